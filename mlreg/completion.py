"""Shell completion scripts for bash, zsh and fish, generated from the Typer app.

``mlreg completion SHELL`` prints one; ``completions/`` holds them as
generated (a test fails when they are stale). The scripts know the commands
and options from the app, and read model names, versions, version IDs and
registry templates straight from the registry's tree with the shell's own
globbing (plus one ``sed`` for IDs), never by starting Python: completion
must feel instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import layout
from .templates import all_templates

SHELLS = ("bash", "zsh", "fish")

# What a parameter's value is, by (command, parameter name); "" is any command.
KINDS = {
    ("", "name"): "model",
    ("", "ref"): "version",
    ("", "artifact"): "file",
    ("", "path"): "dir",
    ("", "registry"): "dir",
    ("", "template"): "template",
    ("", "bump"): "bump",
    ("", "status"): "status",
    ("", "method"): "method",
    ("", "readme"): "file",
    ("", "input_file"): "file",
    ("", "file"): "file",
    ("", "trust_file"): "file",
    ("deploy", "code"): "file",
    ("verify", "target"): "model-at",
    ("", "expect_primary"): "active",
    ("promote", "ref"): "active",
    ("predict", "version"): "active",
    ("alias set", "ref"): "active",
    ("completion", "shell"): "shell",
    ("", "alias"): "alias",
    ("", "expect"): "version",
    ("versions", "tag"): "tag",
    ("tag", "pairs"): "tag",
    ("tag", "remove"): "tag-key",
    ("diff", "a"): "version",
    ("diff", "b"): "version",
    ("export", "refs"): "version",
    ("import", "archive"): "file",
    ("export", "output"): "file",
    ("", "metrics_file"): "file",
}
WORDS = {
    "bump": "major minor patch",
    "status": "deploying active failed",
    "method": "predict predict_proba predict_log_proba decision_function transform score_samples",
    "shell": " ".join(SHELLS),
}


@dataclass
class CommandSpec:
    flags: list[str] = field(default_factory=list)
    valued: dict[str, str] = field(default_factory=dict)  # option -> kind ("none": free text)
    args: list[str] = field(default_factory=list)  # kinds of positional arguments, in order


def _kind(command: str, name: str) -> str:
    return KINDS.get((command, name)) or KINDS.get(("", name)) or "none"


def _spec_of(command: str, click_command: Any) -> CommandSpec:
    spec = CommandSpec(flags=["--help"])
    for param in click_command.params:
        if param.param_type_name == "argument":
            spec.args.append(_kind(command, param.name))
        elif getattr(param, "is_flag", False):
            spec.flags += list(param.opts) + list(getattr(param, "secondary_opts", []))
        else:
            for opt in param.opts:
                spec.valued[opt] = _kind(command, param.name)
    return spec


def spec(app: Any) -> dict[str, CommandSpec]:
    """Every command path ("" for the global options, "readme show"...) and its parameters."""
    import typer.main

    root = typer.main.get_command(app)
    found = {"": _spec_of("", root)}
    for name, command in sorted(root.commands.items()):
        subcommands = getattr(command, "commands", None)
        if subcommands:
            found[name] = CommandSpec(flags=["--help"])
            for sub, sub_command in sorted(subcommands.items()):
                found[f"{name} {sub}"] = _spec_of(f"{name} {sub}", sub_command)
        else:
            found[name] = _spec_of(name, command)
    return found


def _subcommands(specs: dict[str, CommandSpec], parent: str) -> list[str]:
    depth = len(parent.split()) if parent else 0
    prefix = f"{parent} " if parent else ""
    return [k.split()[depth] for k in specs if k.startswith(prefix) and len(k.split()) == depth + 1]


def _case_lines(pairs: list[tuple[str, str]], indent: str, shell: str) -> str:
    """``case`` arms mapping keys to REPLY values, in the syntax of ``shell``."""
    if shell == "fish":
        return "\n".join(f"{indent}case {_fish_quote(k)}\n{indent}    echo {_fish_quote(v)}" for k, v in pairs)
    return "\n".join(f"{indent}{_sh_quote(k)}) REPLY={_sh_quote(v)} ;;" for k, v in pairs)


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _tables(specs: dict[str, CommandSpec]) -> dict[str, list[tuple[str, str]]]:
    words = [(cmd, " ".join(_subcommands(specs, cmd) + s.flags + list(s.valued))) for cmd, s in specs.items()]
    valued = [(f"{cmd}|{opt}", kind) for cmd, s in specs.items() for opt, kind in s.valued.items()]
    args = [(f"{cmd}|{i + 1}", kind) for cmd, s in specs.items() for i, kind in enumerate(s.args)]
    groups = [(cmd, "1") for cmd in specs if cmd and _subcommands(specs, cmd)]
    return {"words": words, "valued": valued, "args": args, "groups": groups}


def render(shell: str, app: Any) -> str:
    """The completion script for ``shell``.

    Raises:
        ValueError: an unknown shell.
    """
    if shell not in SHELLS:
        raise ValueError(f"unknown shell {shell!r}: use bash, zsh or fish")
    specs = spec(app)
    tables = _tables(specs)
    builtin = " ".join(t.name for t in all_templates(None))
    template = {"bash": BASH, "zsh": ZSH, "fish": FISH}[shell]
    indent = "        "
    return (
        template.replace("@SH_TABLES@", SH_TABLES)
        .replace("@WORDS@", _case_lines(tables["words"], indent, shell))
        .replace("@VALUED@", _case_lines(tables["valued"], indent, shell))
        .replace("@ARGS@", _case_lines(tables["args"], indent, shell))
        .replace("@GROUPS@", _case_lines(tables["groups"], indent, shell))
        .replace("@BUILTIN_TEMPLATES@", builtin)
        .replace("@BUMP@", WORDS["bump"])
        .replace("@STATUS@", WORDS["status"])
        .replace("@METHOD@", WORDS["method"])
        .replace("@SHELL@", WORDS["shell"])
        .replace("@MODELS@", layout.MODELS)
        .replace("@VERSIONS@", layout.VERSIONS)
        .replace("@MODEL_FILE@", layout.MODEL_FILE)
        .replace("@VERSION_FILE@", layout.VERSION_FILE)
        .replace("@TEMPLATES@", layout.TEMPLATES)
    )


# bash and zsh share the case tables and the walk over the words before the cursor.
SH_TABLES = r"""# Sets the caller's cmd, model, pos and expect from the words before the cursor.
_mlreg_walk() {
    local word
    for word in "$@"; do
        if [[ -n $expect ]]; then expect=''; continue; fi
        if [[ $word == -* ]]; then
            _mlreg_valued "$cmd|$word" && expect=1
        elif [[ -z $cmd ]]; then cmd=$word
        elif _mlreg_group "$cmd"; [[ -n $REPLY && $pos == 0 && $cmd != *' '* ]]; then cmd="$cmd $word"
        else pos=$((pos + 1)); [[ $pos == 1 ]] && model=$word
        fi
    done
}

_mlreg_words() {
    case "$1" in
@WORDS@
        *) REPLY='' ;;
    esac
}

_mlreg_valued() {
    case "$1" in
@VALUED@
        *) REPLY='' ; return 1 ;;
    esac
}

_mlreg_arg() {
    case "$1" in
@ARGS@
        *) REPLY='' ;;
    esac
}

_mlreg_group() {
    case "$1" in
@GROUPS@
        *) REPLY='' ;;
    esac
}"""

# The three scripts share one algorithm: walk the words before the cursor,
# skipping options and their values, to find the command (and a readme
# subcommand), the model named by the first argument, and what the current
# word is: an option's value, the n-th argument, or an option name.

BASH = r"""# bash completion for mlreg; generated by `mlreg completion bash`, do not edit.
# Install (needs the bash-completion package, or `source` it from ~/.bashrc):
#   mkdir -p ~/.local/share/bash-completion/completions && mlreg completion bash > ~/.local/share/bash-completion/completions/mlreg

@SH_TABLES@
_mlreg_registry() {
    local i
    for ((i = 1; i < COMP_CWORD; i++)); do
        if [[ ${COMP_WORDS[i]} == --registry ]]; then REPLY=${COMP_WORDS[i+1]}; REPLY=${REPLY/#\~/$HOME}; return; fi
    done
    if [[ -n $MLREG_REGISTRY ]]; then REPLY=$MLREG_REGISTRY
    elif [[ $OSTYPE == darwin* ]]; then REPLY="$HOME/Library/Application Support/mlreg"
    else REPLY="${XDG_DATA_HOME:-$HOME/.local/share}/mlreg"
    fi
}

# The folder name a typed model name means (quotes and backslashes dropped, case folded, each
# run of spaces as one '-'), as mlreg matches names.
_mlreg_folder() {
    REPLY=${1//[\"\'\\]/}; REPLY=${REPLY,,}
    while [[ $REPLY == *'  '* ]]; do REPLY=${REPLY//  / }; done
    REPLY=${REPLY// /-}
}

# COMPREPLY: the words (read from the registry's tree) that the current word
# begins, compared as model names are. Never `compgen -W`: it expands $(...)
# and `...` in its word list, and a teammate's folder name must not run code
# in your shell.
_mlreg_offer() {
    local prefix=$1 key word; shift
    _mlreg_folder "$prefix"; key=$REPLY
    COMPREPLY=()
    for word in "$@"; do
        [[ ${word,,} == "$key"* ]] && COMPREPLY+=("$word")
    done
}

_mlreg_candidates() {
    local kind=$1 model=$2 cur=$3 reg folder before=''
    local -a found files
    _mlreg_registry; reg=$REPLY
    if [[ $kind == model-at && $cur == *@* ]]; then  # verify NAME@VERSION
        model=${cur%%@*}; before="$model@"; cur=${cur#*@}; kind=version
    elif [[ $kind == model-at ]]; then
        kind=model
    fi
    case $kind in
        model)
            files=("$reg"/@MODELS@/*/@MODEL_FILE@)
            [[ -e ${files[0]} ]] || files=()
            found=("${files[@]%/@MODEL_FILE@}"); found=("${found[@]##*/}") ;;
        version|active)
            _mlreg_folder "$model"; folder=$REPLY
            files=("$reg/@MODELS@/$folder/@VERSIONS@"/*/@VERSION_FILE@)
            [[ -e ${files[0]} ]] || files=()
            if [[ $kind == active && ${#files[@]} -gt 0 ]]; then
                mapfile -d '' -t files < <(grep -lZ '^status = "active"$' "${files[@]}" 2>/dev/null)
            fi
            if (( ${#files[@]} )); then
                found=("${files[@]%/@VERSION_FILE@}"); found=("${found[@]##*/}")
                mapfile -t -O "${#found[@]}" found < <(sed -n 's/^id = "\([a-z0-9]*\)"$/\1/p' "${files[@]}" 2>/dev/null)
            fi
            if [[ -z $before ]]; then  # @primary, @latest and the model's aliases
                found+=(@primary @latest)
                [[ -f $reg/@MODELS@/$folder/@MODEL_FILE@ ]] && mapfile -t -O "${#found[@]}" found < <(
                    sed -n '/^\[aliases\]$/,/^\[/s/^\([a-z][a-z0-9_-]*\) = .*/\1/p' "$reg/@MODELS@/$folder/@MODEL_FILE@" 2>/dev/null | sed 's/^/@/')
            fi ;;
        alias)
            _mlreg_folder "$model"; folder=$REPLY
            [[ -f $reg/@MODELS@/$folder/@MODEL_FILE@ ]] && mapfile -t found < <(
                sed -n '/^\[aliases\]$/,/^\[/s/^\([a-z][a-z0-9_-]*\) = .*/\1/p' "$reg/@MODELS@/$folder/@MODEL_FILE@" 2>/dev/null) ;;
        tag|tag-key)
            _mlreg_folder "$model"; folder=$REPLY
            files=("$reg/@MODELS@/$folder/@VERSIONS@"/*/@VERSION_FILE@)
            [[ -e ${files[0]} ]] || files=()
            (( ${#files[@]} )) && mapfile -t found < <(sed -n '/^\[tags\]$/,/^\[/s/^"\{0,1\}\([A-Za-z0-9_.-]*\)"\{0,1\} = .*/\1/p' "${files[@]}" 2>/dev/null | sort -u)
            if [[ $kind == tag ]]; then found=("${found[@]/%/=}"); compopt -o nospace 2>/dev/null; fi ;;
        template)
            files=("$reg"/@TEMPLATES@/*.toml)
            [[ -e ${files[0]} ]] || files=()
            found=(@BUILTIN_TEMPLATES@ "${files[@]##*/}"); found=("${found[@]%.toml}") ;;
        bump) found=(@BUMP@) ;;
        status) found=(@STATUS@) ;;
        method) found=(@METHOD@) ;;
        shell) found=(@SHELL@) ;;
        file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
        dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")); return ;;
        *) COMPREPLY=(); return ;;
    esac
    if [[ $kind == model ]]; then
        _mlreg_offer "$cur" "${found[@]}"
    else  # versions, IDs and fixed words are matched as typed
        COMPREPLY=()
        local word
        for word in "${found[@]}"; do [[ $word == "$cur"* ]] && COMPREPLY+=("$before$word"); done
    fi
}

_mlreg() {
    local cur=${COMP_WORDS[COMP_CWORD]} cmd='' model='' pos=0 expect=''
    _mlreg_walk "${COMP_WORDS[@]:1:COMP_CWORD-1}"
    if [[ -n $expect ]]; then
        _mlreg_valued "$cmd|${COMP_WORDS[COMP_CWORD-1]}"
        _mlreg_candidates "$REPLY" "$model" "$cur"
    elif [[ $cur == -* || -z $cmd ]] || { _mlreg_group "$cmd"; [[ -n $REPLY && $cmd != *' '* ]]; }; then
        _mlreg_words "$cmd"
        COMPREPLY=($(compgen -W "$REPLY" -- "$cur"))
    else
        _mlreg_arg "$cmd|$((pos + 1))"
        _mlreg_candidates "$REPLY" "$model" "$cur"
    fi
}

complete -F _mlreg mlreg
"""

ZSH = r"""#compdef mlreg
# zsh completion for mlreg; generated by `mlreg completion zsh`, do not edit.
# Install: copy as _mlreg into a folder of your $fpath (e.g. ~/.zfunc, with
# fpath=(~/.zfunc $fpath) before compinit in ~/.zshrc).

@SH_TABLES@
_mlreg_registry() {
    local i
    for ((i = 2; i < CURRENT; i++)); do
        if [[ ${words[i]} == --registry ]]; then REPLY=${words[i+1]/#\~/$HOME}; return; fi
    done
    if [[ -n $MLREG_REGISTRY ]]; then REPLY=$MLREG_REGISTRY
    elif [[ $OSTYPE == darwin* ]]; then REPLY="$HOME/Library/Application Support/mlreg"
    else REPLY="${XDG_DATA_HOME:-$HOME/.local/share}/mlreg"
    fi
}

_mlreg_candidates() {
    local kind=$1 model=$2 reg folder before='' cur=${words[CURRENT]}
    local -a found files matcher suffix
    _mlreg_registry; reg=$REPLY
    if [[ $kind == model-at && $cur == *@* ]]; then  # verify NAME@VERSION
        model=${cur%%@*}; before="$model@"; kind=version
    elif [[ $kind == model-at ]]; then
        kind=model
    fi
    case $kind in
        model)
            files=("$reg"/@MODELS@/*/@MODEL_FILE@(N))
            found=(${${files%/@MODEL_FILE@}##*/})
            # Typed capitals and spaces match folder names, as mlreg matches names.
            matcher=(-M 'm:{[:upper:]}={[:lower:]} m:{ }={-}') ;;
        version|active)
            folder=${(L)${model//[\"\'\\]/}}; folder=${${(j: :)${(s: :)folder}}// /-}
            files=("$reg/@MODELS@/$folder/@VERSIONS@"/*/@VERSION_FILE@(N))
            if [[ $kind == active ]] && (( $#files )); then
                files=(${(0)"$(grep -lZ '^status = "active"$' $files 2>/dev/null)"})
            fi
            found=(${${files%/@VERSION_FILE@}##*/})
            (( $#files )) && found+=(${(f)"$(sed -n 's/^id = "\([a-z0-9]*\)"$/\1/p' $files 2>/dev/null)"})
            if [[ -z $before ]]; then  # @primary, @latest and the model's aliases
                found+=(@primary @latest)
                [[ -f $reg/@MODELS@/$folder/@MODEL_FILE@ ]] && found+=(${(f)"$(sed -n '/^\[aliases\]$/,/^\[/s/^\([a-z][a-z0-9_-]*\) = .*/\1/p' $reg/@MODELS@/$folder/@MODEL_FILE@ 2>/dev/null | sed 's/^/@/')"})
            fi ;;
        alias)
            folder=${(L)${model//[\"\'\\]/}}; folder=${${(j: :)${(s: :)folder}}// /-}
            [[ -f $reg/@MODELS@/$folder/@MODEL_FILE@ ]] && found=(${(f)"$(sed -n '/^\[aliases\]$/,/^\[/s/^\([a-z][a-z0-9_-]*\) = .*/\1/p' $reg/@MODELS@/$folder/@MODEL_FILE@ 2>/dev/null)"}) ;;
        tag|tag-key)
            folder=${(L)${model//[\"\'\\]/}}; folder=${${(j: :)${(s: :)folder}}// /-}
            files=("$reg/@MODELS@/$folder/@VERSIONS@"/*/@VERSION_FILE@(N))
            (( $#files )) && found=(${(f)"$(sed -n '/^\[tags\]$/,/^\[/s/^"\{0,1\}\([A-Za-z0-9_.-]*\)"\{0,1\} = .*/\1/p' $files 2>/dev/null | sort -u)"})
            if [[ $kind == tag ]]; then found=(${^found}=); suffix=(-S ''); fi ;;
        template)
            files=("$reg"/@TEMPLATES@/*.toml(N))
            found=(@BUILTIN_TEMPLATES@ ${${files##*/}%.toml}) ;;
        bump) found=(@BUMP@) ;;
        status) found=(@STATUS@) ;;
        method) found=(@METHOD@) ;;
        shell) found=(@SHELL@) ;;
        file) _files; return ;;
        dir) _files -/; return ;;
        *) return 1 ;;
    esac
    # compadd takes the words as data, never as code.
    compadd $matcher $suffix -P "$before" -a found
}

_mlreg() {
    local cmd='' model='' pos=0 expect='' REPLY
    _mlreg_walk "${(@)words[2,CURRENT-1]}"
    if [[ -n $expect ]]; then
        _mlreg_valued "$cmd|${words[CURRENT-1]}"
        _mlreg_candidates "$REPLY" "$model"
    elif [[ ${words[CURRENT]} == -* || -z $cmd ]] || { _mlreg_group "$cmd"; [[ -n $REPLY && $cmd != *' '* ]]; }; then
        _mlreg_words "$cmd"
        local -a options; options=(${=REPLY})
        compadd -a options
    else
        _mlreg_arg "$cmd|$((pos + 1))"
        _mlreg_candidates "$REPLY" "$model"
    fi
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _mlreg "$@"
else
    compdef _mlreg mlreg
fi
"""

FISH = r"""# fish completion for mlreg; generated by `mlreg completion fish`, do not edit.
# Install: mkdir -p ~/.config/fish/completions && mlreg completion fish > ~/.config/fish/completions/mlreg.fish

function __mlreg_words
    switch $argv[1]
@WORDS@
    end
end

function __mlreg_valued
    switch $argv[1]
@VALUED@
        case '*'
            return 1
    end
end

function __mlreg_arg
    switch $argv[1]
@ARGS@
    end
end

function __mlreg_group
    switch $argv[1]
@GROUPS@
        case '*'
            return 1
    end
end

function __mlreg_registry
    set -l tokens $argv
    for i in (seq (count $tokens))
        if test "$tokens[$i]" = --registry; and test $i -lt (count $tokens)
            echo $tokens[(math $i + 1)]
            return
        end
    end
    if set -q MLREG_REGISTRY; and test -n "$MLREG_REGISTRY"
        echo $MLREG_REGISTRY
    else if test (uname) = Darwin
        echo "$HOME/Library/Application Support/mlreg"
    else if set -q XDG_DATA_HOME; and test -n "$XDG_DATA_HOME"
        echo "$XDG_DATA_HOME/mlreg"
    else
        echo "$HOME/.local/share/mlreg"
    end
end

function __mlreg_candidates
    set -l kind $argv[1]
    set -l model $argv[2]
    set -l reg $argv[3]
    switch $kind
        case model
            # Typed capitals and spaces match folder names, as mlreg matches names.
            set -l key (string lower -- (string replace -ar ' +' - -- (string trim -c '"\'' -- (commandline -ct))))
            for f in $reg/@MODELS@/*/@MODEL_FILE@
                set -l folder (basename (dirname $f))
                string match -q -- "$key*" $folder; and printf '%s\n' $folder
            end
        case model-at
            set -l current (commandline -ct)
            if string match -q -- '*@*' $current
                set -l name (string split -m1 @ -- $current)[1]
                __mlreg_candidates version $name $reg "$name@"
            else
                __mlreg_candidates model $model $reg
            end
        case version active
            set -l folder (string lower -- (string replace -ar ' +' - -- (string trim -c '"\'' -- $model)))
            set -l files $reg/@MODELS@/$folder/@VERSIONS@/*/@VERSION_FILE@
            if test $kind = active; and test (count $files) -gt 0
                set files (grep -l '^status = "active"$' $files 2>/dev/null)
            end
            set -l before ''
            set -q argv[4]; and set before $argv[4]
            for f in $files
                printf '%s\n' "$before"(basename (dirname $f))
            end
            test (count $files) -gt 0; and sed -n 's/^id = "\([a-z0-9]*\)"$/\1/p' $files 2>/dev/null | string replace -r '^' -- "$before"
            set -l mfile $reg/@MODELS@/$folder/@MODEL_FILE@
            if test -z "$before"  # @primary, @latest and the model's aliases
                printf '%s\n' @primary @latest
                test -f $mfile; and sed -n '/^\[aliases\]$/,/^\[/s/^\([a-z][a-z0-9_-]*\) = .*/\1/p' $mfile 2>/dev/null | string replace -r '^' -- @
            end
        case alias
            set -l folder (string lower -- (string replace -ar ' +' - -- (string trim -c '"\'' -- $model)))
            set -l mfile $reg/@MODELS@/$folder/@MODEL_FILE@
            test -f $mfile; and sed -n '/^\[aliases\]$/,/^\[/s/^\([a-z][a-z0-9_-]*\) = .*/\1/p' $mfile 2>/dev/null
        case tag tag-key
            set -l folder (string lower -- (string replace -ar ' +' - -- (string trim -c '"\'' -- $model)))
            set -l files $reg/@MODELS@/$folder/@VERSIONS@/*/@VERSION_FILE@
            if test (count $files) -gt 0
                set -l keys (sed -n '/^\[tags\]$/,/^\[/s/^"\{0,1\}\([A-Za-z0-9_.-]*\)"\{0,1\} = .*/\1/p' $files 2>/dev/null | sort -u)
                test $kind = tag; and set keys (string replace -r '$' = -- $keys)
                printf '%s\n' $keys
            end
        case template
            string split ' ' -- '@BUILTIN_TEMPLATES@'
            for f in $reg/@TEMPLATES@/*.toml
                basename $f .toml
            end
        case bump
            string split ' ' -- '@BUMP@'
        case status
            string split ' ' -- '@STATUS@'
        case method
            string split ' ' -- '@METHOD@'
        case shell
            string split ' ' -- '@SHELL@'
        case file
            __fish_complete_path (commandline -ct)
        case dir
            __fish_complete_directories (commandline -ct)
    end
end

function __mlreg_complete
    set -l tokens (commandline -opc)
    set -l current (commandline -ct)
    set -l cmd ''
    set -l model ''
    set -l pos 0
    set -l expect 0
    for word in $tokens[2..-1]
        if test $expect = 1
            set expect 0
            continue
        end
        if string match -q -- '-*' $word
            __mlreg_valued "$cmd|$word" >/dev/null; and set expect 1
        else if test -z "$cmd"
            set cmd $word
        else if __mlreg_group $cmd >/dev/null; and test $pos = 0; and not string match -q -- '* *' $cmd
            set cmd "$cmd $word"
        else
            set pos (math $pos + 1)
            test $pos = 1; and set model $word
        end
    end
    set -l reg (__mlreg_registry $tokens)
    if test $expect = 1
        __mlreg_candidates (__mlreg_valued "$cmd|$tokens[-1]") "$model" "$reg"
    else if string match -q -- '-*' $current; or test -z "$cmd"; or begin; __mlreg_group $cmd >/dev/null; and not string match -q -- '* *' $cmd; end
        string split ' ' -- (__mlreg_words "$cmd")
    else
        __mlreg_candidates (__mlreg_arg "$cmd|"(math $pos + 1)) "$model" "$reg"
    end
end

complete -c mlreg -f -a '(__mlreg_complete)'
"""
