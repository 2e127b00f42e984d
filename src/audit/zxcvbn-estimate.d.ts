// zxcvbn-ts's per-match guess estimate, not part of its public interface (src/audit/prefilter.ts).
declare module '@zxcvbn-ts/core/dist/scoring/estimate.cjs' {
  const estimate: (options: unknown, match: unknown, password: string) => { guesses: number };
  export default estimate;
}
