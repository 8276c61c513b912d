//! The child modes: this binary re-executed as the remote node (`--child-node`) or as the
//! raw TCP peer of the baselines (`--child-raw`).

use super::*;

pub(crate) fn child_node() -> anyhow::Result<()> {
    exit_when_stdin_closes();
    actix::System::new().block_on(async {
        let node = Node::bind(NodeConfig::local()).await?;
        node.spawn("sink", Acker::default())?;
        node.spawn("pong", Ponger)?;
        let mut out = std::io::stdout();
        writeln!(out, "{}", node.addr())?;
        out.flush()?;
        std::future::pending::<()>().await;
        drop(node);
        Ok(())
    })
}

pub(crate) fn child_raw() -> anyhow::Result<()> {
    exit_when_stdin_closes();
    actix::System::new().block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut out = std::io::stdout();
        writeln!(out, "{addr}")?;
        out.flush()?;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(async move {
                if let Err(e) = raw_conn(stream, addr).await {
                    eprintln!("bench child-raw: connection failed: {e:#}");
                }
            });
        }
    })
}

/// One raw-TCP baseline job: `T` + u64 count (read that many frames, answer the count as u64)
/// or `P` (answer every ping frame with a pong frame, encoded per message).
pub(crate) async fn raw_conn(mut s: tokio::net::TcpStream, me: SocketAddr) -> anyhow::Result<()> {
    let mut mode = [0u8; 1];
    s.read_exact(&mut mode).await?;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    match mode[0] {
        b'T' => {
            let n = s.read_u64().await?;
            let mut count = 0u64;
            while count < n {
                if s.read_buf(&mut buf).await? == 0 {
                    bail!("EOF after {count} of {n} frames");
                }
                while let Some(_frame) = wire::split_frame(&mut buf, MAX_FRAME)
                    .map_err(|l| anyhow!("oversized frame {l}"))?
                {
                    count += 1;
                }
                if buf.capacity() < 4096 {
                    buf.reserve(64 * 1024);
                }
            }
            s.write_u64(count).await?;
        }
        b'P' => {
            let from = format!("pong@{me}");
            loop {
                if s.read_buf(&mut buf).await? == 0 {
                    return Ok(());
                }
                while let Some(frame) = wire::split_frame(&mut buf, MAX_FRAME)
                    .map_err(|l| anyhow!("oversized frame {l}"))?
                {
                    let f = wire::decode_frame(&frame)?;
                    let to_id = f.from.split('@').next().unwrap_or_default();
                    let ping: Ping = rmp_serde::from_slice(&f.body)?;
                    let pong = frame_for(&from, to_id, &Pong { body: ping.body })?;
                    s.write_all(&pong).await?;
                }
                if buf.capacity() < 4096 {
                    buf.reserve(64 * 1024);
                }
            }
        }
        m => bail!("unknown mode byte {m}"),
    }
    Ok(())
}
