//! `runnel token create|list|revoke`: the API's bearer tokens, in the run database.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use runnel_api::auth::{new_token, token_hash};

use super::state;

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Make a token and print it (only its hash is kept: it cannot be shown again).
    Create {
        /// What the token is for (shown by `runnel token list`).
        name: String,
        /// The token may only read (GET), not start or cancel runs.
        #[arg(long)]
        read_only: bool,
        #[command(flatten)]
        state: state::StateDir,
    },
    /// List the tokens (names and ids, never the tokens).
    List {
        #[command(flatten)]
        state: state::StateDir,
    },
    /// Revoke a token by id.
    Revoke {
        id: uuid::Uuid,
        #[command(flatten)]
        state: state::StateDir,
    },
}

pub fn token_command(cmd: &TokenCommand) -> ExitCode {
    super::block_on(super::Runtime::OneThread, 1, async {
        run(cmd).await?;
        Ok(ExitCode::SUCCESS)
    })
}

async fn run(cmd: &TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Create {
            name,
            read_only,
            state,
        } => {
            let store = state::open_store(&state.dir).await?;
            let token = new_token()?;
            let record = store
                .create_token(name, &token_hash(&token), *read_only)
                .await?;
            store.close().await;
            eprintln!(
                "token `{}` ({}{}): keep it now, it cannot be shown again",
                record.name,
                record.id,
                if record.read_only { ", read-only" } else { "" }
            );
            println!("{token}");
        }
        TokenCommand::List { state } => {
            let store = state::open_store(&state.dir).await?;
            let tokens = store.list_tokens().await?;
            store.close().await;
            println!("{:<36}  {:<9}  {:<20}  NAME", "ID", "ACCESS", "CREATED");
            for t in tokens {
                println!(
                    "{:<36}  {:<9}  {:<20}  {}",
                    t.id,
                    if t.read_only { "read" } else { "read+write" },
                    t.created_at.format("%Y-%m-%d %H:%M:%S"),
                    t.name
                );
            }
        }
        TokenCommand::Revoke { id, state } => {
            let store = state::open_store(&state.dir).await?;
            let revoked = store
                .revoke_token(*id)
                .await
                .context("cannot revoke the token")?;
            store.close().await;
            if !revoked {
                bail!("no token with id {id}");
            }
            eprintln!("token {id} revoked");
        }
    }
    Ok(())
}
