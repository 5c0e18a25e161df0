// Lint: typescript-eslint's recommended rules plus the type-aware rules that catch promises nobody awaits
// (a floating promise in the scheduler or the store is a lost error or a half-written file).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Node's globals, for the plain .js/.mjs tools (TypeScript files get them from @types/node).
const nodeGlobals = Object.fromEntries(
  [
    'process',
    'console',
    'Buffer',
    'URL',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'performance',
    'structuredClone',
    'fetch',
    'AbortController',
    'TextEncoder',
    'TextDecoder',
    'queueMicrotask',
  ].map((name) => [name, 'readonly']),
);

export default tseslint.config(
  { ignores: ['**/node_modules/**', 'dist/**', '.nx/**', 'data/cache/**', 'libs/schema/src/generated/**', 'models/**', 'results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true },
      globals: nodeGlobals,
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  // Plain JavaScript (tools, bin shims) and config files sit outside the TypeScript project: lint them without types.
  { files: ['**/*.js', '**/*.mjs', '**/vitest.config.ts'], ...tseslint.configs.disableTypeChecked },
);
