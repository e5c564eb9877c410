// createCredential: IDENTITY_TYPE → the matching @azure/identity credential, with the
// config's ids, files and authority host passed through. No Entra endpoint is reachable
// offline, so beyond the class only what the SDK checks before any network call is
// asserted (the authority must be https; certificate and token files are read first).
// Managed identity tokens against the emulator are in token-source.test.ts (the SDK fixes
// the managed-identity source per process, so all such tests live in that one file).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ClientCertificateCredential, ClientSecretCredential, ManagedIdentityCredential, WorkloadIdentityCredential } from '@azure/identity';
import type { Env } from '../../shared/config/settings';
import { createCredential } from '../../shared/identity/credential';
import { type IdentityConfig, loadIdentityConfig } from '../../shared/identity/identity-config';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '3c1d9a2e-0b4f-4e7a-9c8d-1a2b3c4d5e6f';
const SCOPE = 'https://monitor.azure.com/.default';
const missingFile = (name: string): string => join(tmpdir(), `credential-test-missing-${process.pid}-${name}`);

/** A valid IdentityConfig from settings, as the relay builds it. */
function identity(env: Env): IdentityConfig {
  const problems: string[] = [];
  const cfg = loadIdentityConfig(env, problems);
  assert.deepEqual(problems, []);
  return cfg;
}

const CREDENTIAL_CLASSES = [ManagedIdentityCredential, WorkloadIdentityCredential, ClientCertificateCredential, ClientSecretCredential];

function assertOnly(cred: unknown, cls: (typeof CREDENTIAL_CLASSES)[number]): void {
  assert.ok(cred instanceof cls, `expected a ${cls.name}, got ${(cred as object)?.constructor?.name}`);
  for (const other of CREDENTIAL_CLASSES) if (other !== cls) assert.ok(!(cred instanceof other), `also a ${other.name}`);
}

/** Awaits getToken and returns its error message; fails if a token comes back. */
async function tokenError(cred: { getToken(scope: string): Promise<unknown> }): Promise<string> {
  try {
    await cred.getToken(SCOPE);
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail('getToken returned a token');
}

describe('createCredential', () => {
  it('IDENTITY_TYPE=none → no credential (requests go without Authorization)', () => {
    assert.equal(createCredential(identity({ IDENTITY_TYPE: 'none' })), undefined);
  });

  it('systemAssigned → ManagedIdentityCredential (the default)', () => {
    assertOnly(createCredential(identity({})), ManagedIdentityCredential);
    assertOnly(createCredential(identity({ IDENTITY_TYPE: 'SystemAssigned' })), ManagedIdentityCredential);
  });

  it('userAssigned → ManagedIdentityCredential', () => {
    // that AZURE_CLIENT_ID reaches the identity endpoint is checked against the emulator in token-source.test.ts
    assertOnly(createCredential(identity({ IDENTITY_TYPE: 'userAssigned', AZURE_CLIENT_ID: CLIENT })), ManagedIdentityCredential);
  });

  describe('workloadIdentity', () => {
    const env = { IDENTITY_TYPE: 'workloadIdentity', AZURE_CLIENT_ID: CLIENT, AZURE_TENANT_ID: TENANT };

    it('→ WorkloadIdentityCredential', () => {
      assertOnly(createCredential(identity({ ...env, AZURE_FEDERATED_TOKEN_FILE: missingFile('wi') })), WorkloadIdentityCredential);
    });

    it('reads the token from AZURE_FEDERATED_TOKEN_FILE (before any network call)', async () => {
      const file = missingFile('wi-token');
      const message = await tokenError(createCredential(identity({ ...env, AZURE_FEDERATED_TOKEN_FILE: file }))!);
      assert.ok(message.includes(file), message);
      assert.match(message, /ENOENT/);
    });

    it('uses the authority host from CLOUD / AAD_HOST_ENDPOINT', () => {
      const cfg = identity({ ...env, AZURE_FEDERATED_TOKEN_FILE: missingFile('wi'), CLOUD: 'AzureChina' });
      assert.equal(cfg.authorityHost, 'https://login.chinacloudapi.cn');
      assertOnly(createCredential(cfg), WorkloadIdentityCredential);
      // The SDK refuses a non-https authority when constructing: proof the host is passed on.
      assert.throws(() => createCredential({ ...cfg, authorityHost: 'http://login.example.cloud' }), /https/);
    });
  });

  describe('aadApplication', () => {
    const env = { IDENTITY_TYPE: 'aadApplication', AZURE_CLIENT_ID: CLIENT, AZURE_TENANT_ID: TENANT };

    it('with AZURE_CLIENT_SECRET → ClientSecretCredential', () => {
      assertOnly(createCredential(identity({ ...env, AZURE_CLIENT_SECRET: 'app-secret' })), ClientSecretCredential);
    });

    it('with AZURE_CLIENT_CERTIFICATE_PATH → ClientCertificateCredential, which reads that file', async () => {
      // loadIdentityConfig refuses a missing file, so build the config directly: the point is
      // that the credential reads the configured path (before any network call).
      const file = missingFile('cert.pem');
      const cfg: IdentityConfig = {
        ...identity({ ...env, AZURE_CLIENT_SECRET: 'x' }),
        clientSecret: undefined,
        certificatePath: file,
        certificatePassword: 'pw',
      };
      const cred = createCredential(cfg)!;
      assertOnly(cred, ClientCertificateCredential);
      const message = await tokenError(cred);
      assert.ok(message.includes(file), message);
    });

    it('prefers the certificate when both certificate and secret are set', () => {
      const cfg: IdentityConfig = { ...identity({ ...env, AZURE_CLIENT_SECRET: 'x' }), certificatePath: missingFile('both.pem') };
      assertOnly(createCredential(cfg), ClientCertificateCredential);
    });

    it('passes the authority host on, for secret and certificate alike', () => {
      const secretCfg = identity({ ...env, AZURE_CLIENT_SECRET: 'x', AAD_HOST_ENDPOINT: 'login.microsoftonline.us' });
      assert.equal(secretCfg.authorityHost, 'https://login.microsoftonline.us');
      assertOnly(createCredential(secretCfg), ClientSecretCredential);
      assert.throws(() => createCredential({ ...secretCfg, authorityHost: 'http://login.example.cloud' }), /https/);
      assert.throws(
        () => createCredential({ ...secretCfg, clientSecret: undefined, certificatePath: missingFile('c.pem'), authorityHost: 'http://login.example.cloud' }),
        /https/,
      );
    });
  });
});
