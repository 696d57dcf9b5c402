// Development helper: `npx tsx e2e/serve.ts` starts a Fuze with the e2e settings and prints its
// URL; run the tests against it with FUZE_E2E_BASE_URL=<url> npm run test:e2e.
import { startFuze } from './support/fuze';

const fuze = await startFuze({ verbose: process.env.FUZE_E2E_VERBOSE === '1' });
console.log(fuze.baseUrl);
const stop = () => void fuze.stop().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
setInterval(() => {}, 1 << 30);
