// zxcvbn-ts's per-match guess estimate, not part of its public interface (src/audit/prefilter.ts).
declare module '@zxcvbn-ts/core/dist/scoring/estimate.cjs' {
  const estimate: (options: unknown, match: unknown, password: string) => { guesses: number };
  export default estimate;
}
// The language packages' keyboard graphs and English messages alone, without their word lists
// (src/audit/strength.ts, when the build's dictionary index is there).
declare module '@zxcvbn-ts/language-common/dist/adjacencyGraphs.json.cjs' {
  const graphs: import('@zxcvbn-ts/core').OptionsGraph;
  export default graphs;
}
declare module '@zxcvbn-ts/language-en/dist/translations.cjs' {
  const translations: import('@zxcvbn-ts/core').TranslationKeys;
  export default translations;
}
