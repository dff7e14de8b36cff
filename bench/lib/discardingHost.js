/** A feature host whose track() discards: the feature measured alone, without the client's pipeline. */
export const discardingHost = {
  track() {},
  persist: async () => {},
  logger: { debug() {}, warn() {}, error() {} },
  now: Date.now,
};
