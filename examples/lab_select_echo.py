"""A select() echo server: the reference solution of docs/LAB.md.

    python3 examples/lab_select_echo.py PORT
    sockbench check --server 'python3 examples/lab_select_echo.py {port}' --service echo

Seed 003's loop, corrected: every socket is non-blocking; what a client
sent waits in its own output buffer until select() says the client can
take it (never a blocking sendall, which would stall every other client);
a client is not read while its buffer is over HIGH_WATER (backpressure);
a client that closes is removed and its socket closed, once what it is
owed has been sent (half-close).
"""
import select
import socket
import sys

HIGH_WATER = 1 << 20  # stop reading a client owed more than 1 MiB


def main():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", int(sys.argv[1])))
    listener.listen(128)
    listener.setblocking(False)
    owed = {}  # client socket -> bytes received and not yet sent back
    ended = set()  # clients that half-closed: close them once flushed

    def close(client):
        del owed[client]
        ended.discard(client)
        client.close()

    while True:
        readers = [listener] + [c for c in owed if c not in ended and len(owed[c]) < HIGH_WATER]
        writers = [c for c in owed if owed[c]]
        readable, writable, _ = select.select(readers, writers, [])
        for sock in readable:
            if sock is listener:
                try:
                    client, _ = listener.accept()
                except BlockingIOError:
                    continue  # another readiness will come
                client.setblocking(False)
                owed[client] = bytearray()
                continue
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionError:
                close(sock)
                continue
            if data:
                owed[sock] += data
            else:
                ended.add(sock)  # end of stream: answer what is owed, then close
        for sock in writable:
            if sock not in owed:
                continue  # closed above, in this same round
            try:
                sent = sock.send(owed[sock])  # may send only part: keep the rest
            except BlockingIOError:
                continue
            except ConnectionError:
                close(sock)
                continue
            del owed[sock][:sent]
        for sock in [c for c in ended if not owed[c]]:
            close(sock)


if __name__ == "__main__":
    main()
