defmodule Linx.Tty.TestHelpers do
  @moduledoc false
  # Oracles and plumbing for the Linx.Tty tests: `stty` reads a terminal's state through
  # its path, independently of our NIF; a relay on a pty master plays the user's
  # terminal emulator.

  import ExUnit.Assertions

  alias Linx.Tty.Saved

  @doc "Runs stty on the terminal at `path`."
  def stty!(path, args) do
    {out, 0} = System.cmd("stty", ["-F", path | args], stderr_to_stdout: true)
    String.trim(out)
  end

  @doc "`stty -g`, parsed: {iflag, oflag, cflag, lflag, [cc]}."
  def stty_g(path) do
    [i, o, c, l | cc] =
      path |> stty!(["-g"]) |> String.split(":") |> Enum.map(&String.to_integer(&1, 16))

    {i, o, c, l, cc}
  end

  @doc "The same five fields decoded from a saved termios blob."
  def decode(%Saved{termios: t}) do
    <<i::32-native, o::32-native, c::32-native, l::32-native, _line, cc::binary-size(32),
      _::binary>> = t

    {i, o, c, l, :binary.bin_to_list(cc)}
  end

  @doc "The set of `stty -a` words (flags such as \"-icanon\", \"echo\")."
  def stty_words(path) do
    path |> stty!(["-a"]) |> String.split(~r/[\s;]+/, trim: true) |> MapSet.new()
  end

  @doc "`stty size` as {rows, cols}."
  def stty_size(path) do
    [r, c] = path |> stty!(["size"]) |> String.split() |> Enum.map(&String.to_integer/1)
    {r, c}
  end

  @doc "An open descriptor that is not a terminal (a UDP socket's), and its owner."
  def socket_fd do
    {:ok, sock} = :socket.open(:inet, :dgram, :udp)
    {:ok, fd} = :socket.getopt(sock, {:otp, :fd})
    {sock, fd}
  end

  @doc "Polls `fun` until it returns a truthy value (which is returned)."
  def wait_until(fun, timeout \\ 5_000, what \\ "condition") do
    deadline = System.monotonic_time(:millisecond) + timeout
    do_wait(fun, deadline, what)
  end

  defp do_wait(fun, deadline, what) do
    case fun.() do
      falsy when falsy in [nil, false] ->
        if System.monotonic_time(:millisecond) > deadline,
          do: flunk("timed out waiting for #{what}")

        Process.sleep(20)
        do_wait(fun, deadline, what)

      value ->
        value
    end
  end

  @doc """
  Reads relay data for `relay` until the accumulated output matches `pattern` (a
  string or regex); returns everything read.
  """
  def read_until(relay, pattern, timeout \\ 5_000, acc \\ "") do
    if matches?(acc, pattern) do
      acc
    else
      id = relay.id

      receive do
        {:linx_tty, ^id, {:data, bytes}} -> read_until(relay, pattern, timeout, acc <> bytes)
      after
        timeout ->
          flunk("timed out waiting for #{inspect(pattern)}; terminal showed #{inspect(acc)}")
      end
    end
  end

  defp matches?(acc, %Regex{} = re), do: Regex.match?(re, acc)
  defp matches?(acc, s) when is_binary(s), do: String.contains?(acc, s)
end
