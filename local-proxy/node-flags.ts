// The Node.js flags the forwarder runs with: the image's ENTRYPOINT (local-proxy/Dockerfile),
// `npm run proxy`, the bench and the e2e all start it with these (a test holds them equal).
//
// --max-semi-space-size=2 (MiB): V8's young generation otherwise grows to 16 MiB per
// semi-space. The forwarder's young objects are small and short-lived (per request and per
// call), and its large buffers live outside the heap, so a small young generation costs no
// measurable CPU while it holds the heap at ~15 MiB instead of ~27 and, scavenging more
// often, lets go of spent request buffers sooner: peak RSS while draining a backlog fell
// from ~140 to ~123 MiB at the same CPU per sample (bench/README.md).
export const FORWARDER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
