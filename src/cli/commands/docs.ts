// kpm doc …, attach, attachments: documents and file attachments (being written).
import type { Command } from 'commander';

export function register(program: Command): void {
  void program;
}
