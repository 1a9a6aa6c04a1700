//! [`SharedArgs`]: the blocks every GhostLink service flattens as one — Postgres, RabbitMQ, its
//! listeners and its logging — so each of them is declared once, not once per service, and
//! [`ServiceConfig`] / [`parse_or_exit`]: a service's whole configuration, parsed and checked
//! before anything is bound.

use clap::Args;

use crate::{exit_on_invalid, AmqpArgs, ConfigError, DatabaseArgs, ListenArgs, LogArgs, TraceArgs, Validate};

/// Postgres, RabbitMQ, the public and ops listeners (defaults per service), logging and traces.
#[derive(Debug, Clone, Args)]
pub struct SharedArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub amqp: AmqpArgs,
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub trace: TraceArgs,
}

impl Validate for SharedArgs {
    /// The database, then the broker, then the data directory; the listeners are checked where
    /// their defaults are known ([`ListenArgs::public_or`], [`ListenArgs::ops_or`]).
    fn validate(&self) -> Result<(), ConfigError> {
        self.database.validate()?;
        self.amqp.validate()?;
        self.trace.validate()?;
        if self.listen.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::new("DATA_DIR (--data-dir)", "must not be empty"));
        }
        Ok(())
    }
}

/// A service's whole configuration: flags and environment, the shared blocks among them, and
/// one check of every setting.
pub trait ServiceConfig: clap::Parser + Validate {
    fn shared(&self) -> &SharedArgs;
}

/// Parses `C` from the command line and the environment and checks it; a bad value prints the
/// setting and exits 2 (clap exits 2 itself for a value it cannot parse).
pub fn parse_or_exit<C: clap::Parser + Validate>() -> C {
    let config = C::parse();
    if let Err(e) = config.validate() {
        exit_on_invalid(&e);
    }
    config
}

/// Makes a service's `Config` — a struct with its [`SharedArgs`] in a field `shared` and a
/// `resolve(&self) -> Result<_, ConfigError>` checking every setting — a [`ServiceConfig`],
/// with the shared blocks read as its own fields (`config.database`, `config.log`).
#[macro_export]
macro_rules! service_config {
    ($config:ty) => {
        impl ::std::ops::Deref for $config {
            type Target = $crate::SharedArgs;
            fn deref(&self) -> &$crate::SharedArgs {
                &self.shared
            }
        }

        impl ::std::ops::DerefMut for $config {
            fn deref_mut(&mut self) -> &mut $crate::SharedArgs {
                &mut self.shared
            }
        }

        impl $crate::Validate for $config {
            fn validate(&self) -> ::std::result::Result<(), $crate::ConfigError> {
                self.resolve().map(drop)
            }
        }

        impl $crate::ServiceConfig for $config {
            fn shared(&self) -> &$crate::SharedArgs {
                &self.shared
            }
        }
    };
}
