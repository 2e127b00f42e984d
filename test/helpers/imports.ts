// The import graph of src/: every module and what it imports, static or dynamic, type-only included
// (`import type`, `export … from`, `import('…')`, `typeof import('…')`). Relative specifiers only;
// packages and node: built-ins are not part of the graph.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export const SRC = resolve(__dirname, '..', '..', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

/** Source text without comments (so an example in a comment is no import); strings are kept. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

const SPECIFIERS = [
  /\bimport\s+(?:type\s+)?[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g, // import x from, import type { x } from
  /\bexport\s+(?:type\s+)?(?:\*|\{[^}]*\})(?:\s+as\s+\w+)?\s*from\s*['"]([^'"]+)['"]/g, // export … from
  /\bimport\s*['"]([^'"]+)['"]/g, // import 'side-effect'
  /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, // import('x'), typeof import('x')
];

/** The relative specifiers a module imports (in source order, duplicates removed). */
export function importsOf(text: string): string[] {
  const code = stripComments(text);
  const found = new Set<string>();
  for (const re of SPECIFIERS) for (const m of code.matchAll(re)) if (m[1].startsWith('.')) found.add(m[1]);
  return [...found];
}

/** Module (path relative to src/, e.g. `cli/commands/account.ts`) → the modules it imports. */
export function importGraph(root = SRC): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(root)) {
    const deps = importsOf(readFileSync(file, 'utf8')).map((spec) => {
      const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
      return relative(root, target.endsWith('.ts') ? target : `${target}.ts`);
    });
    graph.set(relative(root, file), deps);
  }
  return graph;
}

/** Every import cycle, one per strongly connected component (Tarjan), each as a closed path `a → b → a`. */
export function importCycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const comps: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) comps.push(comp);
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return comps.map((comp) => cyclePath(graph, new Set(comp)));
}

/** One concrete cycle through a component, from its first module (sorted), for the message. */
function cyclePath(graph: Map<string, string[]>, comp: Set<string>): string[] {
  const start = [...comp].sort()[0];
  // breadth-first back to `start`, inside the component
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!comp.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u: string | undefined = v; u !== undefined && u !== start; u = prev.get(u)) path.splice(1, 0, u);
        return [...path, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

/** The top folder of a module under src/ (`cli/commands/x.ts` → `cli`). */
export const folderOf = (module: string): string => module.split('/')[0];
