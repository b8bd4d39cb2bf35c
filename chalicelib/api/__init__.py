"""HTTP routes: parse the request, call one service, serialize the answer."""
