// @ts-check
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const importPlugin = require('eslint-plugin-import');

module.exports = tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**', 'bench/results/**', '*.js', 'scripts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.json', tsconfigRootDir: __dirname } },
    plugins: { import: importPlugin },
    settings: { 'import/resolver': { node: { extensions: ['.ts', '.js'] } } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { disallowTypeAnnotations: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'import/no-cycle': 'error',
    },
  },
  {
    // The direction of imports between folders (README, Architecture): api -> temporal client and storage;
    // worker -> activities -> upstream, batch-format, storage; workflows -> type-only imports.
    files: ['**/*.ts'],
    rules: {
      'import/no-restricted-paths': [
        'error',
        {
          zones: [
            {
              target: [
                './src/batches',
                './src/files',
                './src/results',
                './src/health',
                './src/common',
                './src/app.ts',
                './src/app.module.ts',
              ],
              from: ['./activities', './src/worker', './src/upstream', './src/webhooks'],
              message:
                'The API answers from the store and starts workflows; it never runs activities or calls upstream.',
            },
            {
              target: './src/upstream',
              from: [
                './activities',
                './workflows',
                './src/worker',
                './src/temporal',
                './src/storage',
                './src/batches',
                './src/files',
              ],
              message: 'src/upstream knows HTTP and limits only: no Temporal, no storage, no API.',
            },
            {
              target: './src/batch-format',
              from: [
                './activities',
                './workflows',
                './src/worker',
                './src/temporal',
                './src/batches',
                './src/files',
                './src/webhooks',
              ],
              message: 'src/batch-format is formats only: no Temporal, no HTTP.',
            },
            {
              target: './src/storage',
              from: [
                './activities',
                './workflows',
                './src/worker',
                './src/temporal',
                './src/upstream',
                './src/batches',
                './src/files',
              ],
              message: 'src/storage keeps rows and blobs; it depends on nothing above it.',
            },
            {
              target: './src/tenants',
              from: [
                './activities',
                './workflows',
                './src/worker',
                './src/temporal',
                './src/storage',
                './src/upstream',
                './src/batches',
                './src/files',
              ],
              message:
                'src/tenants is the tenants file and its limits: the store and the upstream are given its answers.',
            },
            {
              target: './activities',
              from: ['./src/worker', './src/batches', './src/files', './src/temporal', './workflows'],
              message:
                'Activities get what they need injected (ActivityDeps); they do not reach into the worker or the API.',
            },
          ],
        },
      ],
    },
  },
  {
    // Tests wire real pieces together across folders.
    files: ['**/*.spec.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: { 'import/no-restricted-paths': 'off' },
  },
  {
    // Workflow code is bundled and replayed deterministically: no Node builtins, no Nest, no zod, and nothing else of
    // this repository's at run time (types only).
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'path', 'crypto', 'http', 'https', 'os', 'child_process'],
              message: 'No Node builtins in workflows.',
            },
            {
              group: ['@nestjs/*', 'zod', 'undici', 'better-sqlite3', 'kysely'],
              message: 'Workflows import only @temporalio/workflow, @temporalio/common and type-only activity imports.',
            },
            {
              group: ['../activities', '../activities/*', '../src/*'],
              allowTypeImports: true,
              message: 'Workflows import activities and service code as types only (import type).',
            },
          ],
        },
      ],
    },
  },
);
