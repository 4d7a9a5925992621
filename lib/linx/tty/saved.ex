defmodule Linx.Tty.Saved do
  @moduledoc """
  A terminal's attributes (`struct termios`, as its bytes), kept to be put back later:
  `Linx.Tty.open_controlling_raw/0`, `Linx.Tty.set_raw/1` and `Linx.Tty.save/1` return
  one, `Linx.Tty.restore_and_close/2` and `Linx.Tty.restore/2` apply it.

      {:ok, pty} = Linx.Tty.open_pty()
      {:ok, saved} = Linx.Tty.save(pty.slave)
      saved
      #=> #Linx.Tty.Saved<isig icanon echo opost>

  The inspected form shows four flags as `stty` names them (a `-` means off): a terminal
  in raw mode shows `-isig -icanon -echo -opost`.

  A `Saved` from `open_controlling_raw/0` also holds (in `:handle`) the resource that
  owns the opened descriptor; that is how a terminal whose owner died without
  restoring it still gets its attributes back, when the resource is garbage collected.
  """

  @enforce_keys [:termios]
  defstruct termios: nil, handle: nil

  @type t :: %__MODULE__{termios: binary(), handle: reference() | nil}

  # asm-generic/termbits.h: c_lflag bits ISIG 0o1, ICANON 0o2, ECHO 0o10; c_oflag OPOST 0o1.
  @isig 0o1
  @icanon 0o2
  @echo 0o10
  @opost 0o1

  @doc false
  @spec flags(t()) :: [{atom(), boolean()}] | nil
  def flags(%__MODULE__{
        termios: <<_i::32-native, o::32-native, _c::32-native, l::32-native, _::binary>>
      }) do
    import Bitwise

    [
      isig: (l &&& @isig) != 0,
      icanon: (l &&& @icanon) != 0,
      echo: (l &&& @echo) != 0,
      opost: (o &&& @opost) != 0
    ]
  end

  def flags(%__MODULE__{}), do: nil

  defimpl Inspect do
    def inspect(saved, _opts) do
      case Linx.Tty.Saved.flags(saved) do
        nil ->
          "#Linx.Tty.Saved<#{byte_size(saved.termios)} bytes>"

        flags ->
          words = Enum.map(flags, fn {name, on} -> if on, do: "#{name}", else: "-#{name}" end)
          "#Linx.Tty.Saved<#{Enum.join(words, " ")}>"
      end
    end
  end
end
