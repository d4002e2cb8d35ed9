package demo;

final class Greeting {
    static String text() {
        return "Hello from pyodo (Java)";
    }
}
