exports.greeting = () => "Hello from pyodo (Node.js)";
