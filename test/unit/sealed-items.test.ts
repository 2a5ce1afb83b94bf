import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SEALED_NAME as PKI_PLACE } from '../../shared/auth/node-pki';
import { EnvelopeError, open, seal } from '../../shared/secrets/envelope';
import { SEALED_NAME as SIGNING_KEYS_PLACE } from '../../shared/serviceaccounts/keys';

/*
 * Key material kept outside objects is sealed at its own place (shared/secrets/sealed-item.ts):
 * namespace '' and a `~` name. A ciphertext of one place must not open at another (the signing
 * keys copied over the PKI item, either copied into a Secret's item) nor in another cluster.
 */
const key = randomBytes(32);
const sealAt = (cluster: string, name: string) => seal(Buffer.from('{"d":"private"}'), { cluster, namespace: '', name, uid: '' }, 'dk-1', key);

describe('sealed key items', () => {
  it('places are distinct, and no place can be a Secret\'s (a Secret always has a namespace)', () => {
    expect(SIGNING_KEYS_PLACE).not.toBe(PKI_PLACE);
    for (const p of [SIGNING_KEYS_PLACE, PKI_PLACE]) expect(p.startsWith('~')).toBe(true);
  });

  it.each<[string, string, { namespace: string; name: string }]>([
    ['signing keys opened as the PKI', 'c1', { namespace: '', name: PKI_PLACE }],
    ['signing keys opened as a Secret', 'c1', { namespace: 'default', name: SIGNING_KEYS_PLACE }],
    ['signing keys opened in another cluster', 'c2', { namespace: '', name: SIGNING_KEYS_PLACE }],
  ])('refuses %s', (_name, cluster, at) => {
    expect(() => open(sealAt('c1', SIGNING_KEYS_PLACE), cluster, () => key, at)).toThrow(EnvelopeError);
  });

  it('opens at its own place', () => {
    expect(open(sealAt('c1', SIGNING_KEYS_PLACE), 'c1', () => key, { namespace: '', name: SIGNING_KEYS_PLACE }).plaintext.toString()).toBe('{"d":"private"}');
  });
});
