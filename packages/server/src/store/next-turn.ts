/** A turn of the event loop for everything else (awaiting a free write turn alone only yields to microtasks). */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
