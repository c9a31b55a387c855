/** The current time in Unix seconds, as every stored timestamp is. */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);
