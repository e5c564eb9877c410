// Identity settings (the seed side car's names) → a validated IdentityConfig.
// Problems are collected, not thrown one by one, so a user sees everything to fix at once.

import { existsSync } from 'node:fs';
import { type Env, settingValue } from '../config/settings';

export type IdentityType = 'systemAssigned' | 'userAssigned' | 'workloadIdentity' | 'aadApplication' | 'none';
export type CloudName = 'AZUREPUBLIC' | 'AZUREGOVERNMENT' | 'AZURECHINA' | 'AZURECUSTOM';

export interface IdentityConfig {
  type: IdentityType;
  /** token scope, e.g. https://monitor.azure.com/.default */
  scope: string;
  cloud: CloudName;
  /** Entra authority host (https://…), undefined → the SDK's default for the public cloud */
  authorityHost?: string;
  clientId?: string;
  tenantId?: string;
  certificatePath?: string;
  certificatePassword?: string;
  clientSecret?: string;
  federatedTokenFile?: string;
}

const IDENTITY_TYPES: Record<string, IdentityType> = {
  systemassigned: 'systemAssigned',
  userassigned: 'userAssigned',
  workloadidentity: 'workloadIdentity',
  aadapplication: 'aadApplication',
  none: 'none',
};

// Spellings seen across the side car's docs and release notes, normalised
// (upper case, no underscores, dashes or spaces).
const CLOUD_ALIASES: Record<string, CloudName> = {
  AZUREPUBLIC: 'AZUREPUBLIC',
  AZUREPUBLICCLOUD: 'AZUREPUBLIC',
  AZURECLOUD: 'AZUREPUBLIC',
  PUBLIC: 'AZUREPUBLIC',
  AZUREGOVERNMENT: 'AZUREGOVERNMENT',
  AZUREGOVERNMENTCLOUD: 'AZUREGOVERNMENT',
  AZUREUSGOVERNMENT: 'AZUREGOVERNMENT',
  AZUREUSGOVERNMENTCLOUD: 'AZUREGOVERNMENT',
  AZURECHINA: 'AZURECHINA',
  AZURECHINACLOUD: 'AZURECHINA',
  AZURECUSTOM: 'AZURECUSTOM',
  AZURECUSTOMCLOUD: 'AZURECUSTOM',
  CUSTOM: 'AZURECUSTOM',
};

const CLOUD_DEFAULTS: Record<Exclude<CloudName, 'AZURECUSTOM'>, { scope: string; authority: string }> = {
  AZUREPUBLIC: { scope: 'https://monitor.azure.com/.default', authority: 'https://login.microsoftonline.com' },
  AZUREGOVERNMENT: { scope: 'https://monitor.azure.us/.default', authority: 'https://login.microsoftonline.us' },
  AZURECHINA: { scope: 'https://monitor.azure.cn/.default', authority: 'https://login.chinacloudapi.cn' },
};

export function parseIdentityType(raw: string): IdentityType | undefined {
  return IDENTITY_TYPES[raw.replace(/[_\s-]/g, '').toLowerCase()];
}

export function parseCloud(raw: string): CloudName | undefined {
  return CLOUD_ALIASES[raw.replace(/[_\s-]/g, '').toUpperCase()];
}

export function loadIdentityConfig(env: Env, problems: string[]): IdentityConfig {
  const rawType = settingValue(env, 'IDENTITY_TYPE')!;
  const type = parseIdentityType(rawType);
  if (!type) problems.push(`IDENTITY_TYPE="${rawType}" is not known: set it to systemAssigned, userAssigned, workloadIdentity, aadApplication or none`);

  const rawCloud = settingValue(env, 'CLOUD')!;
  const cloud = parseCloud(rawCloud);
  if (!cloud) problems.push(`CLOUD="${rawCloud}" is not known: set it to AZUREPUBLIC, AZUREGOVERNMENT, AZURECHINA or AZURECUSTOM`);

  const audience = settingValue(env, 'INGESTION_AAD_AUDIENCE');
  const aadHost = settingValue(env, 'AAD_HOST_ENDPOINT');
  const defaults = cloud && cloud !== 'AZURECUSTOM' ? CLOUD_DEFAULTS[cloud] : undefined;
  let scope = audience ?? defaults?.scope ?? '';
  if (audience !== undefined && !audience.endsWith('/.default')) {
    problems.push(`INGESTION_AAD_AUDIENCE="${audience}" must end in /.default (e.g. https://monitor.azure.com/.default)`);
  }
  if (cloud === 'AZURECUSTOM' && audience === undefined && type !== 'none') {
    problems.push("CLOUD=AZURECUSTOM needs INGESTION_AAD_AUDIENCE: set it to your cloud's monitor audience ending in /.default");
    scope = '';
  }
  let authorityHost = defaults?.authority;
  if (aadHost !== undefined) {
    authorityHost = /^https?:\/\//i.test(aadHost) ? aadHost.replace(/\/+$/, '') : `https://${aadHost.replace(/\/+$/, '')}`;
    if (!authorityHost.startsWith('https://')) problems.push(`AAD_HOST_ENDPOINT="${aadHost}" must be an https host`);
  }
  if (cloud === 'AZURECUSTOM' && aadHost === undefined && (type === 'aadApplication' || type === 'workloadIdentity')) {
    problems.push("CLOUD=AZURECUSTOM with an Entra application or workload identity needs AAD_HOST_ENDPOINT: set it to your cloud's login host");
  }

  const cfg: IdentityConfig = {
    type: type ?? 'none',
    scope,
    cloud: cloud ?? 'AZUREPUBLIC',
    authorityHost,
    clientId: settingValue(env, 'AZURE_CLIENT_ID'),
    tenantId: settingValue(env, 'AZURE_TENANT_ID'),
    certificatePath: settingValue(env, 'AZURE_CLIENT_CERTIFICATE_PATH'),
    certificatePassword: settingValue(env, 'AZURE_CLIENT_CERTIFICATE_PASSWORD'),
    clientSecret: settingValue(env, 'AZURE_CLIENT_SECRET'),
    federatedTokenFile: settingValue(env, 'AZURE_FEDERATED_TOKEN_FILE'),
  };

  const need = (ok: unknown, what: string): void => {
    if (!ok) problems.push(`IDENTITY_TYPE=${cfg.type} needs ${what}`);
  };
  switch (type) {
    case 'userAssigned':
      need(cfg.clientId, 'AZURE_CLIENT_ID: set it to the client id of the user-assigned managed identity');
      break;
    case 'workloadIdentity':
      need(cfg.clientId, 'AZURE_CLIENT_ID: set it to the client id of the identity federated with the service account (the workload identity webhook sets it)');
      need(cfg.tenantId, 'AZURE_TENANT_ID: set it to the Entra tenant id (the workload identity webhook sets it)');
      need(
        cfg.federatedTokenFile,
        'AZURE_FEDERATED_TOKEN_FILE: label the pod azure.workload.identity/use=true so the webhook mounts the token, or set the path',
      );
      break;
    case 'aadApplication':
      need(cfg.tenantId, 'AZURE_TENANT_ID: set it to the Entra tenant id of the application');
      need(cfg.clientId, 'AZURE_CLIENT_ID: set it to the application (client) id');
      need(cfg.certificatePath ?? cfg.clientSecret, 'AZURE_CLIENT_CERTIFICATE_PATH (a PEM with certificate and key) or AZURE_CLIENT_SECRET');
      if (cfg.certificatePath && !existsSync(cfg.certificatePath)) {
        problems.push(`AZURE_CLIENT_CERTIFICATE_PATH=${cfg.certificatePath} does not exist: mount the certificate there or fix the path`);
      }
      break;
    default:
      break;
  }
  return cfg;
}

/** Safe to print: everything but secrets. */
export function describeIdentity(cfg: IdentityConfig): Record<string, string | undefined> {
  return {
    type: cfg.type,
    cloud: cfg.cloud,
    scope: cfg.type === 'none' ? undefined : cfg.scope,
    authorityHost: cfg.authorityHost,
    clientId: cfg.clientId,
    tenantId: cfg.tenantId,
    credential: cfg.type === 'aadApplication' ? (cfg.certificatePath ? 'certificate' : 'secret') : undefined,
  };
}
