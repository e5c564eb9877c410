// IdentityConfig → an @azure/identity TokenCredential. The real SDK does the protocol
// work (App Service/IMDS managed identity, federated tokens, client credentials).

import {
  ClientCertificateCredential,
  ClientSecretCredential,
  ManagedIdentityCredential,
  type TokenCredential,
  WorkloadIdentityCredential,
} from '@azure/identity';
import type { IdentityConfig } from './identity-config';

/** undefined for IDENTITY_TYPE=none: requests go out without Authorization. */
export function createCredential(cfg: IdentityConfig): TokenCredential | undefined {
  const authority = cfg.authorityHost ? { authorityHost: cfg.authorityHost } : {};
  switch (cfg.type) {
    case 'none':
      return undefined;
    case 'systemAssigned':
      return new ManagedIdentityCredential();
    case 'userAssigned':
      return new ManagedIdentityCredential({ clientId: cfg.clientId! });
    case 'workloadIdentity':
      return new WorkloadIdentityCredential({
        clientId: cfg.clientId!,
        tenantId: cfg.tenantId!,
        tokenFilePath: cfg.federatedTokenFile!,
        ...authority,
      });
    case 'aadApplication':
      if (cfg.certificatePath) {
        return new ClientCertificateCredential(
          cfg.tenantId!,
          cfg.clientId!,
          { certificatePath: cfg.certificatePath, ...(cfg.certificatePassword ? { certificatePassword: cfg.certificatePassword } : {}) },
          authority,
        );
      }
      return new ClientSecretCredential(cfg.tenantId!, cfg.clientId!, cfg.clientSecret!, authority);
  }
}
