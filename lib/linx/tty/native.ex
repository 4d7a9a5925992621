defmodule Linx.Tty.Native do
  @moduledoc """
  The terminal NIF (`native/linx_tty`): the termios, window-size and pty syscalls
  `Linx.Tty` is built on, and the relay thread behind `Linx.Tty.attach/3`. Use
  `Linx.Tty` rather than this module.

  Failures come back as `{:error, {stage, errno}}`, with `stage` one of `:open`,
  `:tcgetattr`, `:tcsetattr`, `:ioctl`, `:close`, `:posix_openpt`, `:unlockpt`,
  `:thread` and `errno` the kernel's positive errno number. A wrong argument type, a
  negative window-size field or a saved termios blob of the wrong size raises
  `ArgumentError`.

  Every descriptor the NIF opens is close-on-exec and owned by a resource (`handle`): it
  is restored (when it was put in raw mode) and closed by `restore_and_close/3` or
  `handle_close/1`, or when the handle is garbage collected. Calls that open or close
  terminals or start and stop threads run on dirty I/O schedulers; the others are
  single non-blocking syscalls.
  """

  @on_load :load_nif
  @compile {:autoload, false}

  @typedoc "A failed stage and the kernel's errno number."
  @type failure :: {:error, {atom(), pos_integer()}}

  @typedoc "A resource owning one terminal descriptor."
  @type handle :: reference()

  @typedoc "A resource owning one relay thread."
  @type relay :: reference()

  @typedoc "`{rows, cols, xpixel, ypixel}`."
  @type winsize :: {0..65_535, 0..65_535, 0..65_535, 0..65_535}

  @doc false
  @spec load_nif() :: :ok | {:error, term()}
  def load_nif do
    path = :filename.join(:code.priv_dir(:linx), ~c"native/linx_tty")
    :erlang.load_nif(path, 0)
  end

  @doc "`\"linx_tty\"`: proves the library is loaded."
  @spec version() :: binary()
  def version, do: :erlang.nif_error(:nif_not_loaded)

  @doc "Opens `/dev/tty` non-blocking and puts it in raw mode: `{:ok, handle, fd, saved}`."
  @spec open_controlling_raw() :: {:ok, handle(), non_neg_integer(), binary()} | failure()
  def open_controlling_raw, do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  Opens a private, non-blocking description of the terminal at `fd` (re-opened through
  `/proc/self/fd`, or duplicated for a pty master) and puts it in raw mode:
  `{:ok, handle, new_fd, saved}`.
  """
  @spec open_fd_raw(integer()) :: {:ok, handle(), non_neg_integer(), binary()} | failure()
  def open_fd_raw(_fd), do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  Restores `saved` and closes: the handle's terminal when `handle` owns `fd` (a second
  call is a no-op), else `fd` itself (EBADF counts as done). A bare `fd` that some
  handle owns is restored but left for that handle to close.
  """
  @spec restore_and_close(handle() | nil, integer(), binary()) :: :ok | failure()
  def restore_and_close(_handle, _fd, _saved), do: :erlang.nif_error(:nif_not_loaded)

  @doc false
  # A close-on-exec duplicate of `fd` that no resource owns (the caller closes it): for
  # tests of 0.2's bare-number `restore_and_close/2`.
  @spec dup_fd(integer()) :: {:ok, non_neg_integer()} | failure()
  def dup_fd(_fd), do: :erlang.nif_error(:nif_not_loaded)

  @doc "Closes a handle now, restoring what it saved, if anything. Idempotent."
  @spec handle_close(handle()) :: :ok | failure()
  def handle_close(_handle), do: :erlang.nif_error(:nif_not_loaded)

  @doc "The handle's descriptor number, or `nil` once closed."
  @spec handle_fd(handle()) :: non_neg_integer() | nil
  def handle_fd(_handle), do: :erlang.nif_error(:nif_not_loaded)

  @doc "`tcgetattr(fd)` as the C struct's bytes."
  @spec termios_get(integer()) :: {:ok, binary()} | failure()
  def termios_get(_fd), do: :erlang.nif_error(:nif_not_loaded)

  @doc "`tcsetattr(fd, TCSANOW, saved)`."
  @spec termios_set(integer(), binary()) :: :ok | failure()
  def termios_set(_fd, _saved), do: :erlang.nif_error(:nif_not_loaded)

  @doc "Raw mode (`cfmakeraw`) on `fd`, checked by reading it back: `{:ok, previous}`."
  @spec make_raw(integer()) :: {:ok, binary()} | failure()
  def make_raw(_fd), do: :erlang.nif_error(:nif_not_loaded)

  @doc "`TIOCGWINSZ`."
  @spec window_size(integer()) :: {:ok, winsize()} | failure()
  def window_size(_fd), do: :erlang.nif_error(:nif_not_loaded)

  @doc "`TIOCSWINSZ`; a field above 65535 is `{:error, {:ioctl, 22}}`."
  @spec set_window_size(integer(), {integer(), integer(), integer(), integer()}) ::
          :ok | failure()
  def set_window_size(_fd, _ws), do: :erlang.nif_error(:nif_not_loaded)

  @doc "Whether two descriptors are the same character device (false on any error)."
  @spec same_terminal(integer(), integer()) :: boolean()
  def same_terminal(_a, _b), do: :erlang.nif_error(:nif_not_loaded)

  @doc "A new pty: `{:ok, {master_handle, master_fd}, {slave_handle, slave_fd}, path}`."
  @spec open_pty() ::
          {:ok, {handle(), non_neg_integer()}, {handle(), non_neg_integer()}, binary()}
          | failure()
  def open_pty, do: :erlang.nif_error(:nif_not_loaded)

  @doc """
  Starts a relay thread on a duplicate of `fd`, sending `{:linx_tty, id, event}` to
  `pid`, with `event` one of `{:data, bytes}` (when `read?`), `{:winsize, winsize}`
  (when `poll_ms` > 0) and `{:closed, :eof | errno}`. `{:ok, relay, id}`.
  """
  @spec relay_open(integer(), pid(), boolean(), non_neg_integer()) ::
          {:ok, relay(), pos_integer()} | failure()
  def relay_open(_fd, _pid, _read?, _poll_ms), do: :erlang.nif_error(:nif_not_loaded)

  @doc "Queues bytes for the terminal: `:ok` or `{:error, :closed}`."
  @spec relay_write(relay(), binary()) :: :ok | {:error, :closed}
  def relay_write(_relay, _bytes), do: :erlang.nif_error(:nif_not_loaded)

  @doc "Bytes queued and not yet taken by the terminal."
  @spec relay_pending(relay()) :: non_neg_integer()
  def relay_pending(_relay), do: :erlang.nif_error(:nif_not_loaded)

  @doc "Stops the relay after writing out its queue (for at most `flush_ms`)."
  @spec relay_close(relay(), non_neg_integer()) :: :ok
  def relay_close(_relay, _flush_ms), do: :erlang.nif_error(:nif_not_loaded)
end
