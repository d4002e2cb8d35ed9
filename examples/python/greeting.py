def greeting() -> str:
    return "Hello from pyodo (Python)"
