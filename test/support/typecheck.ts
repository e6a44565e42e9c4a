import * as ts from 'typescript';

/** How a user's program is type-checked in the tests: strictly, as CommonJS for Node.js, without emitting. */
const USER_PROGRAM_OPTIONS: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.CommonJS,
  moduleResolution: ts.ModuleResolutionKind.Node10,
  esModuleInterop: true,
  skipLibCheck: true,
  types: ['node'],
};

/**
 * The compiler's messages for a user's program, none when it type-checks. The program is the file on disk, or `text`
 * kept in memory under that file's name (every other file is read from disk).
 */
export function typeProblems(file: string, text?: string): string[] {
  const host = ts.createCompilerHost(USER_PROGRAM_OPTIONS);
  if (text !== undefined) {
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (name, language, ...rest) =>
      (name === file ? ts.createSourceFile(name, text, language) : getSourceFile(name, language, ...rest));
  }
  const program = ts.createProgram([file], USER_PROGRAM_OPTIONS, host);
  return ts.getPreEmitDiagnostics(program).map(d => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}
