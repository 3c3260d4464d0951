// Hocuspocus 3.4.4 with no extensions, bound to HOST:PORT (default 127.0.0.1:1234).
// permessage-deflate is accepted when a client offers it (the generator offers it only in
// workload a-deflate); Hocuspocus's own default is off.
// Server's own `address` option is not passed to listen() in 3.4.4 (it names the field
// `address`, Node reads `host`), so we call httpServer.listen ourselves.
import { Server } from '@hocuspocus/server'

const host = process.env.HOST || '127.0.0.1'
const port = Number(process.env.PORT || 1234)

const server = new Server({ quiet: true, stopOnSignals: false }, { perMessageDeflate: true })
server.httpServer.listen({ host, port }, () => {
  console.log(`hocuspocus listening on ${host}:${port}`)
})
const stop = () => { server.httpServer.close(); process.exit(0) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
