// Lint configuration (eslint 9, flat config) for the AppSync resolvers and their tests.
//
// The resolvers run in AppSync's APPSYNC_JS runtime, a restricted JavaScript (no try/catch, no while, no
// classes, no regex literals, no `++`, only some built-in methods, ...): AWS's plugin flags what that runtime
// refuses at deployment. Its `recommended` set includes rules that need TypeScript's type information (e.g.
// no-disallowed-methods), hence the project service and the tsconfig.json next to this file.
import js from '@eslint/js';
import appsync from '@aws-appsync/eslint-plugin';

const RESOLVERS = ['ml_infra/appsync/resolvers/**/*.js'];

export default [
  {
    files: ['**/*.js'],
    ...js.configs.recommended,
    languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
  },
  { files: RESOLVERS, ...appsync.configs.recommended },
  {
    files: RESOLVERS,
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
  },
  {
    // The tests run under node, which has globals the resolvers must not use.
    files: ['tests/appsync_js/**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
  },
  { ignores: ['node_modules/', '.venv/'] },
];
