// ESLint (flat config): `npm run lint`, run by CI (.ci/run) before the tests.
// typescript-eslint's recommended type-checked set, plus a few strict rules chosen for the
// bugs they catch. Formatting is Prettier's job (`npm run format:check`), not ESLint's.

import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', 'bench/results/'] },

  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      // One program from tsconfig.json: every .ts file is in it.
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      eqeqeq: 'error',
      'no-console': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
      // `typeof import('x')` stays allowed: it types a lazy require() of an optional module.
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's describe/it/test return promises the runner itself awaits.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }] },
      ],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-unnecessary-type-assertion': 'error',
      '@typescript-eslint/prefer-promise-reject-errors': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/no-base-to-string': 'error',
      '@typescript-eslint/use-unknown-in-catch-callback-variable': 'error',
      // Off: async stubs and handlers that implement a Promise-returning interface without
      // awaiting are normal here; a forgotten await is what no-floating-promises catches.
      '@typescript-eslint/require-await': 'off',
      // Off: interfaces here are records of closures (log.line, input.header, pool.acquire)
      // written with method shorthand, passed around detached by design; none uses `this`, and
      // the rule cannot tell a closure from a method, so every finding was a false alarm.
      '@typescript-eslint/unbound-method': 'off',
    },
  },

  // The few plain JS files (build helpers run before tsc, this config): no type information.
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.node },
  },
  {
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
