# Sourced by the server scripts: `choose_port OVERRIDE FILE FIRST` sets PORT to OVERRIDE if it
# is set, else to the port kept in FILE, else to the first free port from FIRST (kept in FILE
# for the next calls). `port_free N` tells whether nothing listens on 127.0.0.1:N.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
choose_port() {
    if [ -n "$1" ]; then
        PORT="$1"
    elif [ -f "$2" ]; then
        PORT="$(cat "$2")"
    else
        PORT="$3"
        while ! port_free "$PORT"; do PORT=$((PORT + 1)); done
        echo "$PORT" > "$2"
    fi
}
