//! Hijacked streams: `attach` and exec `start` take over the connection (`101 UPGRADED`),
//! then carry the multiplexed 8-byte frames without a TTY, raw bytes with one.

use std::sync::Arc;

use bytes::Bytes;
use hyper::Response;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::{Body, Req, Resp};
use crate::container::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};

fn upgraded_response(tty: bool, upgrade: bool) -> Resp {
    let ct = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let mut b = Response::builder().header("Content-Type", ct);
    if upgrade {
        b = b
            .status(101)
            .header("Connection", "Upgrade")
            .header("Upgrade", "tcp");
    } else {
        b = b.status(200);
    }
    b.body(Body::empty())
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// Where output goes: the taken-over connection, or (without an upgrade) a response body.
enum Sink {
    Io(Box<dyn AsyncWrite + Send + Unpin>),
    Channel(tokio::sync::mpsc::Sender<Bytes>),
}

impl Sink {
    async fn write(&mut self, data: &[u8]) -> bool {
        match self {
            Sink::Io(w) => w.write_all(data).await.is_ok() && w.flush().await.is_ok(),
            Sink::Channel(tx) => tx.send(Bytes::copy_from_slice(data)).await.is_ok(),
        }
    }

    async fn close(&mut self) {
        if let Sink::Io(w) = self {
            let _ = w.shutdown().await;
        }
    }
}

/// The client's side of a stream: input and output on the taken-over connection, or only
/// output into the response body when the client did not ask for an upgrade.
async fn take_over(
    upgrade: Option<hyper::upgrade::OnUpgrade>,
    body_tx: Option<tokio::sync::mpsc::Sender<Bytes>>,
) -> Option<(Option<Box<dyn AsyncRead + Send + Unpin>>, Sink)> {
    match (upgrade, body_tx) {
        (Some(on), _) => {
            let upgraded = on.await.ok()?;
            let (r, w) = tokio::io::split(TokioIo::new(upgraded));
            Some((Some(Box::new(r)), Sink::Io(Box::new(w))))
        }
        (None, Some(tx)) => Some((None, Sink::Channel(tx))),
        (None, None) => None,
    }
}

/// Output of the supervisor's frames into the sink: headers kept without a TTY, dropped
/// with one. Returns the exit code carried by a stream-3 frame, if any.
async fn pump_out(
    shim_read: &mut (impl AsyncRead + Unpin),
    sink: &mut Sink,
    tty: bool,
) -> Option<i64> {
    loop {
        match shim::client::read_frame(shim_read).await {
            Ok(Some((3, payload))) => {
                let v: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
                return v["exit_code"].as_i64();
            }
            Ok(Some((stream, payload))) => {
                let ok = if tty {
                    sink.write(&payload).await
                } else {
                    sink.write(&crate::logs::frame(stream, &payload)).await
                };
                if !ok {
                    return None;
                }
            }
            Ok(None) | Err(_) => return None,
        }
    }
}

/// Client input (raw bytes) into the supervisor; EOF closes the write side.
async fn pump_in(mut client: impl AsyncRead + Unpin, mut shim_write: impl AsyncWrite + Unpin) {
    let _ = tokio::io::copy(&mut client, &mut shim_write).await;
    let _ = shim_write.shutdown().await;
}

/// `POST /containers/{id}/attach`.
pub async fn attach(engine: &Arc<Engine>, mut req: Req, c: Arc<Container>) -> Result<Resp> {
    let stdin = req.flag("stdin")?;
    let stdout = req.flag("stdout")?;
    let stderr = req.flag("stderr")?;
    let stream = req.flag("stream")?;
    let logs = req.flag("logs")?;
    let tty = c.with(|r| r.config["Tty"].as_bool().unwrap_or(false));
    let upgrade = if req.wants_upgrade() {
        req.upgrade.take()
    } else {
        None
    };
    let resp_upgrade = upgrade.is_some();
    // Attached before start: the start connects this attach to the supervisor before the
    // process runs, so no output is missed.
    let early = if stream && !c.is_running() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        c.pending_attach
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tx);
        Some(rx)
    } else {
        None
    };
    let (body_tx, body) = if resp_upgrade {
        (None, Body::empty())
    } else {
        let (tx, b) = Body::channel(64);
        (Some(tx), b)
    };
    let engine = engine.clone();
    tokio::spawn(async move {
        let Some((client_read, mut sink)) = take_over(upgrade, body_tx).await else {
            return;
        };
        if logs {
            let (tx, mut rx) = tokio::sync::mpsc::channel(64);
            let opts = crate::logs::Options {
                stdout,
                stderr,
                multiplexed: !tty,
                ..Default::default()
            };
            let path = engine.log_path(&c.id);
            tokio::spawn(async move { crate::logs::stream(&path, opts, tx, || false).await });
            while let Some(b) = rx.recv().await {
                if !sink.write(&b).await {
                    return;
                }
            }
        }
        if !stream {
            sink.close().await;
            return;
        }
        let mut ack = None;
        if let Some(rx) = early {
            match rx.await {
                Ok(a) => ack = Some(a),
                Err(_) => {
                    // The start failed or never came.
                    sink.close().await;
                    return;
                }
            }
        }
        let client = shim::client::ShimClient::new(engine.state_dir(&c.id));
        let attached = client.attach(stdin, stdout, stderr).await;
        if let Some(ack) = ack {
            let _ = ack.send(());
        }
        let Ok(attached) = attached else {
            sink.close().await;
            return;
        };
        let (mut shim_read, shim_write) = attached.stream.into_split();
        let input = match (stdin, client_read) {
            (true, Some(r)) => Some(tokio::spawn(pump_in(r, shim_write))),
            _ => None,
        };
        pump_out(&mut shim_read, &mut sink, tty).await;
        sink.close().await;
        if let Some(input) = input {
            input.abort();
        }
    });
    Ok(if resp_upgrade {
        upgraded_response(tty, true)
    } else {
        let mut r = upgraded_response(tty, false);
        *r.body_mut() = body;
        r
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct ExecStart {
    detach: bool,
    tty: bool,
    console_size: Option<Vec<u16>>,
}

/// `POST /exec/{id}/start`.
pub async fn exec_start(engine: &Arc<Engine>, mut req: Req, id: &str) -> Result<Resp> {
    let exec = engine.exec(id)?;
    let body = req.json().await?;
    let start: ExecStart = if body.is_null() {
        ExecStart::default()
    } else {
        crate::types::parse("exec start config", &body)?
    };
    {
        let s = exec.lock();
        if s.running {
            return Err(Error::conflict(format!(
                "Error: Exec command {} is already running",
                exec.id
            )));
        }
        if s.started {
            return Err(Error::conflict(format!(
                "Error: Exec command {} has already run",
                exec.id
            )));
        }
    }
    let c = engine.container(&exec.container_id)?;
    if !c.is_running() {
        return Err(Error::conflict(format!(
            "Container {} is not running",
            c.id
        )));
    }
    let tty = exec.config.tty || start.tty;
    let stdin = exec.config.attach_stdin;
    if start.detach {
        let started = engine.exec_start(&exec, false).await?;
        let engine = engine.clone();
        tokio::spawn(async move {
            let mut stream = started.stream;
            let mut code = -1;
            loop {
                match shim::client::read_frame(&mut stream).await {
                    Ok(Some((3, payload))) => {
                        let v: serde_json::Value =
                            serde_json::from_slice(&payload).unwrap_or_default();
                        code = v["exit_code"].as_i64().unwrap_or(-1);
                        break;
                    }
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
            engine.exec_finished(&started.exec, code);
        });
        return Ok(super::empty(200));
    }
    let upgrade = if req.wants_upgrade() {
        req.upgrade.take()
    } else {
        None
    };
    let resp_upgrade = upgrade.is_some();
    let (body_tx, body) = if resp_upgrade {
        (None, Body::empty())
    } else {
        let (tx, b) = Body::channel(64);
        (Some(tx), b)
    };
    let engine = engine.clone();
    let console = start.console_size.clone();
    tokio::spawn(async move {
        let Some((client_read, mut sink)) = take_over(upgrade, body_tx).await else {
            return;
        };
        let started = match engine.exec_start(&exec, stdin).await {
            Ok(s) => s,
            Err(e) => {
                let msg = format!("{}\r\n", e.message);
                if tty {
                    sink.write(msg.as_bytes()).await;
                } else {
                    sink.write(&crate::logs::frame(1, msg.as_bytes())).await;
                }
                sink.close().await;
                return;
            }
        };
        if tty
            && let Some(size) = console
            && size.len() == 2
            && size[0] > 0
        {
            let client = shim::client::ShimClient::new(engine.state_dir(&exec.container_id));
            let _ = client.resize(size[0], size[1], Some(&exec.id)).await;
        }
        let (mut shim_read, shim_write) = started.stream.into_split();
        let input = match (stdin, client_read) {
            (true, Some(r)) => Some(tokio::spawn(pump_in(r, shim_write))),
            _ => None,
        };
        let code = pump_out(&mut shim_read, &mut sink, tty).await;
        // Record the exit before the client sees EOF: it asks for the exit code next.
        engine.exec_finished(&exec, code.unwrap_or(-1));
        sink.close().await;
        if let Some(input) = input {
            input.abort();
        }
    });
    Ok(if resp_upgrade {
        upgraded_response(tty, true)
    } else {
        let mut r = upgraded_response(tty, false);
        *r.body_mut() = body;
        r
    })
}
