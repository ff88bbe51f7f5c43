// Lint: typescript-eslint's type-aware recommended rules over every TypeScript file (the types
// come from tsconfig.test.json, which covers tests, benches and examples too). `npm run lint`.
import js from '@eslint/js'
import { defineConfig } from 'eslint/config'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default defineConfig(
  { ignores: ['dist/', 'coverage/', '.vitest-cache/', 'bench/results/', 'test/data/'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // Unused imports are unused vars too. `_name` marks what a signature, pattern or loop needs but the code does not use.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true }],
      '@typescript-eslint/no-unused-expressions': 'error',
      // The defaults, plus CIDs: their toString() is the canonical base32 form messages should show.
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        {
          allow: [
            { from: 'lib', name: ['Error', 'URL', 'URLSearchParams'] },
            { from: 'package', name: 'CID', package: 'multiformats' },
          ],
        },
      ],
      // Off: async functions without await implement Promise-returning interfaces, and throwing
      // in them rejects (what callers handle) where a plain function would throw synchronously.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['test/**', 'examples/**'],
    rules: {
      // vitest's asymmetric matchers (expect.any(), expect.stringMatching(), ...) are typed `any`.
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  // Plain JavaScript (child-process scripts of tests, CI helpers): no types to check against.
  { files: ['**/*.js', '**/*.mjs'], extends: [tseslint.configs.disableTypeChecked] },
)
