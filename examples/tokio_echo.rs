//! `tokio`: an idiomatic multi-threaded tokio echo and frame server.
//!
//! The "what an engineer would pick instead" row of `sockbench compare`:
//! one task per connection on tokio's work-stealing runtime (one worker
//! thread per core), written the way tokio's own examples write it.
//!
//! ```text
//! cargo build --release --examples
//! target/release/examples/tokio_echo --addr 127.0.0.1:0 --service frame
//! ```
//!
//! The first line on stdout is `listening on ADDR`; it serves until SIGINT
//! or SIGTERM and then exits 0. Services:
//! - `echo`: every byte back, as it arrives.
//! - `frame`: 4-byte big-endian length, then the payload; each frame is
//!   answered with the same frame. A length over 1 MiB closes the connection
//!   (the claimed size is never allocated), as sockbench's `frame` does.

use std::io;
use std::net::SocketAddr;

use clap::{Parser, ValueEnum};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};

/// An idiomatic multi-threaded tokio echo/frame server (a compare yardstick).
#[derive(Debug, Parser)]
struct Args {
    /// TCP address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:7000")]
    addr: SocketAddr,

    /// Protocol to serve.
    #[arg(long, value_enum, default_value = "echo")]
    service: Service,
}

/// The protocols this server speaks (a subset of sockbench's services).
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Service {
    /// Every byte back.
    Echo,
    /// Length-prefixed frames, each echoed.
    Frame,
}

/// Largest frame payload accepted, as sockbench's `frame` default.
const MAX_FRAME_BYTES: usize = 1024 * 1024;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(err) = serve(args).await {
        eprintln!("tokio_echo: error: {err}");
        std::process::exit(1);
    }
}

/// Accept connections and spawn one task each, until SIGINT or SIGTERM.
async fn serve(args: Args) -> io::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let listener = TcpListener::bind(args.addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    tokio::spawn(async move {
                        // A failing connection never takes the server down.
                        let _ = handle(stream, args.service).await;
                    });
                }
                Err(err) => eprintln!("tokio_echo: accept: {err}"),
            },
            _ = terminate.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
        }
    }
}

/// Serve one connection until the peer closes it.
async fn handle(stream: TcpStream, service: Service) -> io::Result<()> {
    stream.set_nodelay(true)?;
    match service {
        Service::Echo => echo(stream).await,
        Service::Frame => frame(stream).await,
    }
}

/// Echo: read a chunk, write it back, as tokio's echo example does.
async fn echo(mut stream: TcpStream) -> io::Result<()> {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        stream.write_all(&buffer[..read]).await?;
    }
}

/// Frame: answers are buffered and flushed once no whole request is
/// waiting, so pipelined frames leave in one write.
async fn frame(stream: TcpStream) -> io::Result<()> {
    let (reader, writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut writer = BufWriter::new(writer);
    let mut payload = Vec::new();
    loop {
        let length = match reader.read_u32().await {
            Ok(length) => length as usize,
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => {
                writer.flush().await?;
                return Ok(()); // clean close between frames
            }
            Err(err) => return Err(err),
        };
        if length > MAX_FRAME_BYTES {
            writer.flush().await?;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("frame of {length} bytes is over the {MAX_FRAME_BYTES}-byte limit"),
            ));
        }
        payload.resize(length, 0);
        reader.read_exact(&mut payload).await?;
        writer.write_u32(length as u32).await?;
        writer.write_all(&payload).await?;
        if reader.buffer().is_empty() {
            writer.flush().await?;
        }
    }
}
