// The API client is generated from the API's own OpenAPI document (scripts/openapi.py writes
// openapi.json from create_app().openapi(), no server needed). `npm run gen` refreshes both;
// `npm run check:client` fails when the committed client is stale.
import { defineConfig } from '@hey-api/openapi-ts';

export default defineConfig({
  input: process.env.FUZE_OPENAPI_INPUT ?? './openapi.json',
  output: {
    path: process.env.FUZE_OPENAPI_OUTPUT ?? './src/client',
  },
  plugins: [
    '@hey-api/client-fetch',
    '@hey-api/typescript',
    '@hey-api/sdk',
    '@tanstack/react-query',
  ],
});
