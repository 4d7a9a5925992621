defmodule Linx.Tty.GroupLeader do
  @moduledoc false
  # Terminal I/O through an Erlang I/O server (a group leader) instead of a descriptor:
  # the way to reach a user typing over SSH or `--remsh`, and the way to share a
  # terminal that an Erlang driver already reads.
  #
  #   * `prepare/1` turns echo off, which makes OTP's `:group` hand out characters as
  #     they come instead of editing lines (servers without an echo option, such as
  #     the -noshell `:user`, never edit lines), and asks for lists: in binary mode
  #     OTP 25's `:group` answers a `get_chars` that found exactly the characters asked
  #     for and buffers an `eof` for the next one (io_lib:collect_chars/4's rest);
  #   * a linked reader asks for one character at a time (`:group` in that state
  #     answers `get_chars` only once it has exactly N characters, so N is 1);
  #   * output is `put_chars` in the server's own encoding: a `:unicode` server gets
  #     valid UTF-8 (sequences split across chunks are carried over, invalid bytes
  #     become U+FFFD, because such servers, `ssh_cli` among them, refuse anything
  #     else), a `:latin1` server gets the bytes as they are.

  @type saved :: %{gl: pid(), opts: keyword()}

  @spec encoding(pid()) :: :unicode | :latin1
  def encoding(gl) do
    case safe_getopts(gl) do
      opts when is_list(opts) ->
        if Keyword.get(opts, :encoding, :latin1) in [:unicode, :utf8], do: :unicode, else: :latin1

      _ ->
        :unicode
    end
  end

  @spec prepare(pid()) :: saved()
  def prepare(gl) do
    before = safe_getopts(gl)
    before = if is_list(before), do: before, else: []
    # Only the keys we change are put back: a server may refuse a whole setopts list
    # for one key it does not know.
    changed =
      for {key, value} <- [echo: false, binary: false],
          Keyword.has_key?(before, key) and Keyword.get(before, key) != value,
          :ok == safe_setopts(gl, [{key, value}]),
          do: {key, Keyword.get(before, key)}

    %{gl: gl, opts: changed}
  end

  @spec restore(saved()) :: :ok
  def restore(%{gl: gl, opts: opts}) do
    Enum.each(opts, fn opt -> safe_setopts(gl, [opt]) end)
  end

  defp safe_getopts(gl) do
    :io.getopts(gl)
  catch
    _, _ -> :error
  end

  defp safe_setopts(gl, opts) do
    :io.setopts(gl, opts)
  catch
    _, _ -> :error
  end

  @doc false
  # The reader: `{:linx_tty_gl, ref, event}` to `parent`, with event `{:data, bytes}`,
  # `:eof` or `{:error, why}`. An interrupted read (Ctrl-C taken by the I/O server) is
  # the byte 3 the user typed.
  @spec reader(pid(), pid(), reference(), :unicode | :latin1) :: :ok
  def reader(parent, gl, ref, enc) do
    case :io.request(gl, {:get_chars, enc, ~c"", 1}) do
      :eof ->
        send(parent, {:linx_tty_gl, ref, :eof})
        :ok

      {:error, :interrupted} ->
        send(parent, {:linx_tty_gl, ref, {:data, <<3>>}})
        reader(parent, gl, ref, enc)

      {:error, why} ->
        send(parent, {:linx_tty_gl, ref, {:error, why}})
        :ok

      data when is_binary(data) or is_list(data) ->
        send(parent, {:linx_tty_gl, ref, {:data, to_bytes(data, enc)}})
        reader(parent, gl, ref, enc)

      other ->
        send(parent, {:linx_tty_gl, ref, {:error, {:unexpected_reply, other}}})
        :ok
    end
  end

  defp to_bytes(data, _enc) when is_binary(data), do: data
  defp to_bytes(chars, :latin1), do: :erlang.list_to_binary(chars)

  defp to_bytes(chars, :unicode) do
    case :unicode.characters_to_binary(chars) do
      bin when is_binary(bin) -> bin
      {_, good, _} -> good
    end
  end

  @doc false
  # Writes `bytes` (after `carry`, the incomplete UTF-8 tail of the previous chunk);
  # returns the new carry.
  @spec put(pid(), :unicode | :latin1, binary(), binary()) :: binary()
  def put(gl, :latin1, bytes, _carry) do
    _ = :io.request(gl, {:put_chars, :latin1, bytes})
    <<>>
  end

  def put(gl, :unicode, bytes, carry) do
    {text, carry} = utf8_split(carry <> bytes)
    if text != <<>>, do: _ = :io.request(gl, {:put_chars, :unicode, text})
    carry
  end

  @doc false
  # {valid UTF-8 text, incomplete tail}: invalid bytes become U+FFFD.
  @spec utf8_split(binary()) :: {binary(), binary()}
  def utf8_split(bin), do: utf8_split(bin, [])

  defp utf8_split(bin, acc) do
    case :unicode.characters_to_binary(bin) do
      good when is_binary(good) ->
        {IO.iodata_to_binary([acc, good]), <<>>}

      {:incomplete, good, rest} ->
        {IO.iodata_to_binary([acc, good]), rest}

      {:error, good, <<_bad, rest::binary>>} ->
        utf8_split(rest, [acc, good, "\uFFFD"])
    end
  end
end
