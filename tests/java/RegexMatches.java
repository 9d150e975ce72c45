// What Java's java.util.regex (the engine behind SSM's AllowedPattern) says about patterns and values.
// Reads lines "<base64 pattern>\t<base64 value>" on stdin; prints one line per input: "match", "no-match" or
// "error" (the pattern does not compile). Run with `java RegexMatches.java` (Java 11+ single-file launch).
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

public class RegexMatches {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        Base64.Decoder b64 = Base64.getDecoder();
        String line;
        while ((line = in.readLine()) != null) {
            String[] parts = line.split("\t", -1);
            String pattern = new String(b64.decode(parts[0]), StandardCharsets.UTF_8);
            String value = new String(b64.decode(parts[1]), StandardCharsets.UTF_8);
            try {
                System.out.println(Pattern.compile(pattern).matcher(value).matches() ? "match" : "no-match");
            } catch (PatternSyntaxException e) {
                System.out.println("error");
            }
        }
    }
}
