//! The completion scripts and the manual page, made from the clap definitions.

use std::io;

/// The completion script for `shell`.
pub fn completion_script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(
        shell,
        &mut for_completions(super::command()),
        "flags-dl",
        &mut script,
    );
    if shell == clap_complete::Shell::Bash {
        script = fix_bash_completion(&script);
    }
    script
}

/// The manual page, in roff.
pub fn man_page() -> io::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(super::command()).render(&mut page)?;
    Ok(page)
}

/// The command line as the completion scripts offer it: without hidden options (bench's
/// internal `--child-run`). clap_complete lists hidden options too (clap-rs/clap#1335) and
/// a `Command` cannot drop an argument, so a subcommand that has one is re-made from its
/// visible arguments and its one-line help, all a completion script reads of it.
fn for_completions(cmd: clap::Command) -> clap::Command {
    cmd.mut_subcommands(|sub| {
        if !sub.get_arguments().any(clap::Arg::is_hide_set) {
            return sub;
        }
        let visible: Vec<clap::Arg> = sub
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .cloned()
            .collect();
        let remade = clap::Command::new(sub.get_name().to_string()).args(visible);
        match sub.get_about() {
            Some(about) => remade.about(about.clone()),
            None => remade,
        }
    })
}

/// clap_complete names bash's subcommand cases `flags__subcmd__dl__…` for a program with
/// a hyphen in its name, while its dispatch looks for `flags__dl__…`, so nothing after a
/// subcommand completes (clap-rs/clap#6421, still open for clap_complete 4.6). Renaming
/// the cases to what the dispatch looks for restores them.
fn fix_bash_completion(script: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(script)
        .replace("flags__subcmd__dl__", "flags__dl__")
        .into_bytes()
}
