import type { Command } from "commander";
import { CliError, EXIT } from "./io.js";

/** Every command path (`queues create`, ...) with the words that may follow it: subcommands and options. */
function wordsByPath(command: Command, path: string[] = ["conveyor"], into = new Map<string, string[]>()) {
  const options = command.options.flatMap(
    (option) => [option.long, option.short].filter(Boolean) as string[],
  );
  into.set(path.join(" "), [...command.commands.map((sub) => sub.name()), ...options, "--help"]);
  for (const sub of command.commands) wordsByPath(sub, [...path, sub.name()], into);
  return into;
}

/**
 * A completion script generated from the command tree itself, so it never
 * lags behind a new command: `eval "$(conveyor completion bash)"`.
 */
function script(program: Command, shell: string): string {
  const entries = [...wordsByPath(program)]
    .map(([path, words]) => `  ["${path}"]="${words.join(" ")}"`)
    .join("\n");
  const body = `declare -A _conveyor_words=(
${entries}
)
_conveyor_complete() {
  local path="conveyor" word candidate
  for word in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    candidate="$path $word"
    [[ -n "\${_conveyor_words[$candidate]+set}" ]] && path="$candidate"
  done
  COMPREPLY=($(compgen -W "\${_conveyor_words[$path]}" -- "\${COMP_WORDS[COMP_CWORD]}"))
}
complete -o default -F _conveyor_complete conveyor
`;
  // zsh runs bash completion functions through bashcompinit.
  return shell === "zsh" ? `autoload -U +X bashcompinit && bashcompinit\n${body}` : body;
}

export function addCompletionCommand(program: Command): void {
  program
    .command("completion <shell>")
    .description('print a completion script for bash or zsh: eval "$(conveyor completion bash)"')
    .action((shell: string) => {
      if (shell !== "bash" && shell !== "zsh")
        throw new CliError("completion is for bash or zsh", EXIT.usage);
      process.stdout.write(script(program, shell));
    });
}
