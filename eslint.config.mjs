// `npm run lint`: typescript-eslint's recommended-type-checked rules over every TypeScript file
// that tsconfig.json covers (shared, functions, node-agent, infra, scripts, bin, test, bench), plus
// the plain JavaScript scripts. `npm test` runs it (and `tsc --noEmit`) before vitest.
// Every rule turned off or relaxed below says why.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'cdk.out/**', 'coverage/**', '.stratus/**', 'dashboard/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // The code writes `xs[i]!` and `m[1]!` on purpose: with noUncheckedIndexedAccess off the `!`
      // is "unnecessary" to the compiler, but it marks each place that assumes the element exists
      // (and keeps the code ready for noUncheckedIndexedAccess). Removing ~340 of them would be
      // noise, not a fix.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // A leading underscore is this code base's way to say "unused on purpose" (callback
      // parameters an interface imposes, fields left out by rest destructuring).
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      // `String(v)` where v is `unknown` narrowed by a null check (`v ?? ''`, `v !== undefined`):
      // the checker types v as `{}` and the rule cannot tell it from a plain object. Every hit was
      // such a deliberate conversion of untyped input; restrict-template-expressions still catches
      // objects interpolated into strings.
      '@typescript-eslint/no-base-to-string': 'off',
      // Implementations of async interfaces (ConfigSource, the exec process, a fake agent's stop)
      // are `async` without awaiting so that a throw becomes a rejection, as their callers expect;
      // dropping `async` to please the rule would change that.
      '@typescript-eslint/require-await': 'off',
      // A variable assigned once but read earlier by a closure (a signal handler checking whether
      // the child process exists yet) cannot be a const without a temporal-dead-zone error.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // Tests, benchmarks, their fixtures and the local start script read API responses (JSON
    // bodies, watch events, CDK templates) as loosely typed data and assert on them: typing every
    // response would add hundreds of casts that a failing assertion (or the script's own check)
    // already covers.
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  {
    // Plain JavaScript (this file, scripts/*.mjs, bin/*.mjs) and vitest.config.ts are outside
    // tsconfig.json: lint them without type information.
    files: ['**/*.mjs', '**/*.js', 'vitest.config.ts'],
    ...tseslint.configs.disableTypeChecked,
    // Node's globals these scripts use (no-undef stays on for plain JavaScript).
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: Object.fromEntries(
        ['console', 'process', 'URL', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Buffer'].map((g) => [g, 'readonly']),
      ),
    },
  },
);
