// The Node.js flags the relay runs with: in Azure the app setting NODE_OPTIONS
// (deploy/azure/main.bicep), `npm run relay` and `npm start`, and in code the bench and the
// e2e, so what the bench measures is what ships (test/functions/node-flags.test.ts holds
// them equal).
//
// --max-semi-space-size=2 (MiB): with V8's default young generation (up to 16 MiB per
// semi-space) the relay never scavenged: under load V8 ran a full mark-compact every ~60
// writes instead (8-10 per million samples, each marking the whole ~14 MiB heap on the main
// thread and its helpers), started while the old generation was far below its limit. With
// 2 MiB it scavenges ~20 times per million samples and runs no mark-compact; the helper
// threads' CPU fell from 0.36 to 0.14 s per million samples, and the relay's whole CPU per
// sample by 8-12 % (bench/README.md, session 7). The forwarder runs with the same flag for
// its memory (local-proxy/node-flags.ts).
export const RELAY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
