import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const tfjs = ['@tensorflow/*', 'webgpu'];

export default [
  { ignores: ['**/node_modules', '**/dist', 'runs', '.device', '.artifacts', 'apps/report/public/build'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'scope:spec', onlyDependOnLibsWithTags: [], bannedExternalImports: tfjs },
            { sourceTag: 'scope:store', onlyDependOnLibsWithTags: [], bannedExternalImports: tfjs },
            { sourceTag: 'scope:random', onlyDependOnLibsWithTags: [], bannedExternalImports: tfjs },
            { sourceTag: 'scope:data', onlyDependOnLibsWithTags: ['scope:spec', 'scope:random'], bannedExternalImports: tfjs },
            { sourceTag: 'scope:model', onlyDependOnLibsWithTags: ['scope:spec'] },
            { sourceTag: 'scope:engine', onlyDependOnLibsWithTags: ['scope:spec', 'scope:data', 'scope:model', 'scope:random'] },
            { sourceTag: 'scope:judge', onlyDependOnLibsWithTags: ['scope:spec', 'scope:data', 'scope:random'] },
            {
              sourceTag: 'scope:runner',
              onlyDependOnLibsWithTags: ['scope:spec', 'scope:data', 'scope:model', 'scope:engine', 'scope:judge', 'scope:random', 'scope:store'],
            },
            { sourceTag: 'scope:report', onlyDependOnLibsWithTags: ['scope:store'], bannedExternalImports: tfjs },
            { sourceTag: 'type:lib', notDependOnLibsWithTags: ['type:app'] },
          ],
        },
      ],
    },
  },
  {
    // Project configs import the shared vitest config from the workspace root: tooling, not a lib import.
    files: ['**/vitest.config.ts'],
    rules: { '@nx/enforce-module-boundaries': 'off' },
  },
];
