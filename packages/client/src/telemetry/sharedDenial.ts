import type { ConsentStore } from './consentStore.js';
import type { IdentityStore } from './identityStore.js';

/**
 * A client's consent store and identity store, with a denial remembered where every unnamed
 * client shared its storage before (`defaultClientName`) taken as this client's while it has none
 * of its own: read at start, it is then stored as its own (best effort), so it outlasts the run
 * in which the shared storage was left. A grant there is not taken: it may have been another
 * app's.
 */
export function withSharedDenial(
  own: ConsentStore,
  identity: IdentityStore,
  deniedThere: () => boolean,
): { consentStore: ConsentStore; identity: IdentityStore } {
  const consentStore: ConsentStore = {
    async read() {
      const mine = await own.read();
      if (mine !== undefined || !deniedThere()) return mine;
      await own.write('denied').catch(() => undefined);
      return 'denied';
    },
    write: (state) => own.write(state),
  };
  const ownNow = identity.rememberedConsentNow?.bind(identity);
  const rememberedConsentNow = (): unknown => {
    const mine = ownNow?.();
    if (mine !== undefined && mine !== null) return mine;
    return deniedThere() ? 'denied' : mine;
  };
  return { consentStore, identity: { ...identity, rememberedConsentNow } };
}
