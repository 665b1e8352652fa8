import { startEmbeddedPostgres } from './helpers/embedded.js';
const s = await startEmbeddedPostgres();
console.log(s.url);
process.on('SIGTERM', async () => { await s.stop(); process.exit(0); });
setInterval(() => {}, 1000);
