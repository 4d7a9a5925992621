defmodule Linx.Tty.Relay do
  @moduledoc """
  Moves bytes between a terminal descriptor and a process's mailbox, on a native
  thread: what the terminal has is read as soon as it comes and sent to the owner,
  and `write/2` queues bytes that the thread writes as fast as the terminal takes them.
  No BEAM scheduler ever waits on the terminal. `Linx.Tty.attach/3` is built on it; use
  it directly to drive a pty master (a terminal emulator, a web terminal, a test).

      {:ok, pty} = Linx.Tty.open_pty()
      {:ok, relay} = Linx.Tty.Relay.open(pty.master)
      :ok = Linx.Tty.Relay.write(relay, "typed\\n")
      # the slave's line discipline echoes it back to the master:
      receive do {:linx_tty, id, {:data, bytes}} when id == relay.id -> bytes end
      #=> "typed\\r\\n"

  The owner receives `{:linx_tty, relay.id, event}` with `event` one of:

    * `{:data, bytes}`: input read from the terminal;
    * `{:winsize, {rows, cols, xpixel, ypixel}}`: the window size changed (only with
      `:winsize_poll_ms`);
    * `{:closed, reason}`: the terminal hung up (`:eof`) or failed (an errno number);
      the relay has stopped.

  The relay works on its own duplicate of the descriptor: closing it does not close
  yours, and yours can be closed while it runs. It needs the descriptor non-blocking;
  if it is not, the relay sets `O_NONBLOCK` (which a duplicate shares) and clears it
  again when it stops. It stops on `close/1`, when its owner exits, when the terminal
  hangs up, or when the struct is garbage collected.
  """

  alias Linx.Tty.{Error, Native}

  @enforce_keys [:id, :fd, :resource]
  defstruct @enforce_keys

  @type t :: %__MODULE__{id: pos_integer(), fd: non_neg_integer(), resource: reference()}

  @doc """
  Starts a relay on `fd`. Options:

    * `:owner`: the pid that receives the events (default: the caller);
    * `:read`: whether to read the terminal's input (default `true`; `false` makes a
      write-only relay, for a terminal whose input someone else reads);
    * `:winsize_poll_ms`: read the window size this often (0..60000, default 0 =
      never) and send `{:winsize, ...}` when it changed. A resize raises SIGWINCH only
      in the terminal's foreground process group; polling notices it anywhere.

  Returns `{:ok, relay}` or `{:error, %Linx.Tty.Error{}}` (`:open` with `:ebadf` for a
  descriptor that is not open, `:thread` when no thread could be started).
  """
  @spec open(non_neg_integer(), keyword()) :: {:ok, t()} | {:error, Error.t()}
  def open(fd, opts \\ []) do
    Linx.Tty.check_fd!(fd)
    opts = check_opts!(opts)

    case Native.relay_open(fd, opts.owner, opts.read, opts.winsize_poll_ms) do
      {:ok, resource, id} -> {:ok, %__MODULE__{id: id, fd: fd, resource: resource}}
      {:error, {op, errno}} -> {:error, Error.from_nif(op, errno)}
    end
  end

  defp check_opts!(opts) when is_list(opts) do
    Enum.reduce(opts, %{owner: self(), read: true, winsize_poll_ms: 0}, fn
      {:owner, pid}, acc when is_pid(pid) ->
        %{acc | owner: pid}

      {:read, flag}, acc when is_boolean(flag) ->
        %{acc | read: flag}

      {:winsize_poll_ms, ms}, acc when is_integer(ms) and ms in 0..60_000 ->
        %{acc | winsize_poll_ms: ms}

      other, _acc ->
        raise ArgumentError,
              "Linx.Tty.Relay.open/2: bad option #{inspect(other)} " <>
                "(expected owner: pid, read: boolean, winsize_poll_ms: 0..60000)"
    end)
  end

  defp check_opts!(opts),
    do:
      raise(
        ArgumentError,
        "Linx.Tty.Relay.open/2: options must be a keyword list, got: #{inspect(opts)}"
      )

  @doc """
  Queues `bytes` for the terminal and returns at once. `{:error, :closed}` once the
  relay has stopped.
  """
  @spec write(t(), iodata()) :: :ok | {:error, :closed}
  def write(%__MODULE__{resource: r}, bytes) do
    write_chunks(r, IO.iodata_to_binary(bytes))
  end

  # The NIF copies what it is given into the queue on a normal scheduler: 64 KiB at a
  # time keeps each call far below a millisecond.
  @chunk 64 * 1024

  defp write_chunks(r, <<chunk::binary-size(@chunk), rest::binary>>) when rest != <<>> do
    case Native.relay_write(r, chunk) do
      :ok -> write_chunks(r, rest)
      error -> error
    end
  end

  defp write_chunks(r, bytes), do: Native.relay_write(r, bytes)

  @doc "How many queued bytes the terminal has not taken yet."
  @spec pending(t()) :: non_neg_integer()
  def pending(%__MODULE__{resource: r}), do: Native.relay_pending(r)

  @doc """
  Stops the relay: it stops reading, writes out what is still queued (for at most
  `flush_ms`, default 1000), and closes its descriptor. Idempotent.
  """
  @spec close(t(), non_neg_integer()) :: :ok
  def close(%__MODULE__{resource: r}, flush_ms \\ 1_000)
      when is_integer(flush_ms) and flush_ms >= 0 do
    Native.relay_close(r, flush_ms)
  end

  defimpl Inspect do
    def inspect(%{id: id, fd: fd}, _opts), do: "#Linx.Tty.Relay<#{id} fd=#{fd}>"
  end
end
