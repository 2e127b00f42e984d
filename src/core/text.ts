// Small text helpers shared by the CLI and the server.

/** "1 minute", "15 minutes"; `pluralWord` for irregular ones ("1 entry", "2 entries"). */
export const plural = (n: number, word: string, pluralWord = `${word}s`): string => `${n} ${n === 1 ? word : pluralWord}`;
