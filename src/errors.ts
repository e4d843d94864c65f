// Errors a user can act on: one line, naming the file or field and what is wrong. The CLI prints
// `message` alone (no stack) and exits with `exitCode`: 1 for runtime faults, 2 for usage errors.
export class DigitsError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
    this.name = 'DigitsError';
  }
}

export class UsageError extends DigitsError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}
