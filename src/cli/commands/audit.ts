// kpm audit: weak, reused, old and breached passwords (placeholder while being written).
import type { Command } from 'commander';

export function register(program: Command): void {
  program.command('audit').description('check passwords: weak, reused, old and breached');
}
