//! The config file and `remote add`, whose options come from the backends' registry
//! ([`cloudmux_remote::BACKENDS`]): every option of every kind is a `--flag` with its help, so
//! `cloudmux remote add --help` is always what the registry says.

use std::collections::BTreeMap;

use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};
pub use cloudmux_remote::{Config, RemoteConfig, config_path};

/// What `remote add` was given: a name, a kind and options by name.
#[derive(Debug, Default, Clone)]
pub struct RemoteAdd {
    /// The remote's name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Its options.
    pub options: BTreeMap<String, String>,
}

/// The options of every kind, each once, with the kinds that take it.
fn all_options() -> Vec<(&'static str, String, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, String, Vec<&'static str>)> = Vec::new();
    for b in cloudmux_remote::BACKENDS {
        for o in b.options() {
            match out.iter_mut().find(|(n, ..)| *n == o.name) {
                Some((_, _, kinds)) => kinds.push(b.kind()),
                None => out.push((o.name, o.help.to_string(), vec![b.kind()])),
            }
        }
    }
    out
}

impl Args for RemoteAdd {
    fn augment_args(cmd: Command) -> Command {
        let kinds: Vec<String> = cloudmux_remote::BACKENDS
            .iter()
            .map(|b| format!("{} ({})", b.kind(), b.about()))
            .collect();
        let mut cmd = cmd
            .arg(
                Arg::new("name")
                    .required(true)
                    .help("Name (2-64 letters, digits, `_`, `-`, `.`)"),
            )
            .arg(
                Arg::new("type")
                    .long("type")
                    .required(true)
                    .value_name("TYPE")
                    .help(format!("The kind of remote: {}", kinds.join("; "))),
            );
        for (name, help, kinds) in all_options() {
            // clap keeps `&'static str` flags; these are made once per process.
            let flag: &'static str = Box::leak(name.replace('_', "-").into_boxed_str());
            let mut arg = Arg::new(name)
                .long(flag)
                .value_name("VALUE")
                .help(format!("{help} [{}]", kinds.join(", ")));
            // The flag's earlier name.
            if name == "service_account_file" {
                arg = arg.alias("service-account");
            }
            cmd = cmd.arg(arg);
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for RemoteAdd {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut a = RemoteAdd::default();
        a.update_from_arg_matches(m)?;
        Ok(a)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        self.name = m.get_one::<String>("name").cloned().unwrap_or_default();
        self.kind = m.get_one::<String>("type").cloned().unwrap_or_default();
        for (name, ..) in all_options() {
            if let Some(v) = m.get_one::<String>(name) {
                self.options.insert(name.to_string(), v.clone());
            }
        }
        Ok(())
    }
}

impl RemoteAdd {
    /// Checks what was given and makes the remote's configuration ([`cloudmux_remote::build`]).
    pub fn build(&self) -> cloudmux_core::Result<RemoteConfig> {
        cloudmux_remote::build(&self.name, &self.kind, &self.options)
    }
}
