// Kept in step with package.json's version (a test checks).
export const VERSION = '0.1.0';
export const USER_AGENT = `prometheus-azure-relay/${VERSION}`;
