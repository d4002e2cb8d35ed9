// A tiny HTTP app: edit the greeting, run `doit push`, and the new answer is served.
const http = require("http");
const { greeting } = require("./greeting");

const port = Number(process.env.PORT || 3000);
http
  .createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end(`${greeting()}\n`);
  })
  .listen(port, () => console.log(`listening on ${port}`));
